"""A zone's first keys are all made or none stays (decision 83 item 3): when the token
refuses the ZSK after making the KSK, the KSK this attempt made is deleted from the
token, and one ``key.generation_failed`` entry says what was removed; mended, the same
command makes the zone's keys. ``tldsec zone add``, ``init`` and the founding make first
keys through one ``KeyManager.bootstrap``; the founding's test is
``test_ceremony_found_zones``. The algorithm rollover's two new keys likewise (the same
``KeyManager._write_all_or_none``).

SoftHSM2, made full for real (``tests/hsm/fulltoken.py``: room for one key)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.test_zone_add import home as home  # the fixture: init, a SoftHSM2 token
from tests.cli.test_zone_add import run
from tests.hsm.fulltoken import full_token
from tests.service.twozones import two_zone_config
from tldsec.audit.config import open_audit_log
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.clock import SystemClock
from tldsec.hsm.open import open_keystore
from tldsec.settings import load_settings


def token_keys(home: Path) -> set[str]:
    store = open_keystore(load_settings(home).keystore_spec())
    try:
        return {k.key_id for k in store.list_keys()}
    finally:
        store.close()


def failures(home: Path) -> list[dict[str, object]]:
    log = open_audit_log(load_settings(home), SystemClock())
    try:
        flt = EntryFilter(events=("key.generation_failed",))
        return [{**e.details, "zone": e.zone} for e in iter_entries(log.engine, flt)]
    finally:
        log.close()


def test_zone_add_on_a_full_token_leaves_no_key_in_it(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two_zone_config(home)
    before = token_keys(home)
    with full_token(home, keys=1):  # shop.'s KSK, not its ZSK
        code, out, err = run(capsys, "zone", "add", "shop", "--home", str(home))
        assert code != 0 and "generate failed" in err, (out, err)
        assert token_keys(home) == before  # the KSK made is gone
    (failed,) = failures(home)
    assert failed["zone"] == "shop." and "generate failed" in str(failed["error"])
    (removed,) = failed["removed"]  # type: ignore[misc]
    assert removed.startswith("ksk ") and failed["left"] == []
    assert "shop-ksk-" in removed
    code, out, err = run(capsys, "keys", "list", "--zone", "shop", "--home", str(home), "--json")
    assert code == 0 and json.loads(out)["zones"]["shop."] == [], out

    code, out, err = run(capsys, "zone", "add", "shop", "--home", str(home))  # mended
    assert code == 0, err
    assert len(token_keys(home) - before) == 3 and "KSK 2048-bit key tag" in out


def test_an_algorithm_rollover_on_a_full_token_leaves_no_key_in_it(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rollover makes its KSK and ZSK in one write: the token full after the KSK,
    the KSK is deleted and named in one key.generation_failed entry (decision 83)."""
    keys = json.loads(run(capsys, "keys", "list", "--json", "--home", str(home))[1])
    ksk = next(k for k in keys if k["role"] == "ksk")
    code, out, err = run(capsys, "keys", "ds-seen", str(ksk["key_tag"]), "--home", str(home))
    assert code == 0, err
    policy_file = Path(load_settings(home).policy.source)
    text = re.sub(r"(?m)^algorithm = 8\b.*$", "algorithm = 13", policy_file.read_text())
    policy_file.write_text(re.sub(r"(?m)^bits = \d+.*$", "bits = 256", text))
    before, rows = token_keys(home), {k["key_id"] for k in keys}
    roll = ("keys", "algorithm-rollover", "--to", "13", "--reason", "RFC 8624", "--home")
    with full_token(home, keys=1):  # the new KSK, not the new ZSK
        code, out, err = run(capsys, *roll, str(home))
        assert code != 0 and "generate failed" in err, (out, err)
        assert len(err.strip().splitlines()) == 1, err
        assert token_keys(home) == before  # the KSK made is gone
    code, out, err = run(capsys, "keys", "list", "--json", "--home", str(home))
    assert code == 0 and {k["key_id"] for k in json.loads(out)} == rows, out
    (failed,) = failures(home)
    assert failed["zone"] == "example." and "generate failed" in str(failed["error"])
    (removed,) = failed["removed"]  # type: ignore[misc]
    assert removed.startswith("ksk 256-bit ") and failed["left"] == []

    code, out, err = run(capsys, *roll, str(home))  # room again
    assert code == 0, err
    assert len(token_keys(home) - before) == 2
    code, out, err = run(capsys, "keys", "list", "--json", "--home", str(home))
    assert len({k["key_id"] for k in json.loads(out)} - rows) == 2, out
