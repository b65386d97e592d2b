"""A home of two zones as an operator makes one: ``tldsec init`` for example. (keys on
disk), ``[zone]`` renamed ``[zones.example]`` beside ``[zones.shop]``, each zone's store
under ``zones/NAME/dist``, shop. added by ``tldsec zone add``; and shop. following a
policy of its own (``follow_long_policy``, decisions 79 and 80)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from tests.cli.test_zone_add import as_zones
from tldsec.audit.config import open_audit_log
from tldsec.cli.main import main
from tldsec.clock import FakeClock, SystemClock
from tldsec.policy import AuditPolicy
from tldsec.settings import load_settings

# The audit retention of the policy shop. follows in ``follow_long_policy``.
LONG = AuditPolicy(online_retention=timedelta(days=730), archive_retention=timedelta(days=1825))


def two_zone_home(path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["init", "--home", str(path), "--origin", "example.", "--keystore", "file"]) == 0
    two_zone_config(path)
    assert main(["zone", "add", "shop", "--home", str(path)]) == 0
    capsys.readouterr()
    return path


def two_zone_config(path: Path) -> None:
    """tldsec.toml of an ``init`` home edited for two zones: ``[zones.example]`` and
    ``[zones.shop]``, each zone's store under ``zones/NAME/dist`` (shop. not added yet)."""
    as_zones(path, "shop")
    toml = path / "tldsec.toml"
    text = toml.read_text()
    if "[distribute]" in text:
        text = text.replace("[distribute]\n", '[distribute]\nstore_dir = "zones/{zone}/dist"\n', 1)
    else:
        text += '\n[distribute]\nstore_dir = "zones/{zone}/dist"\n'
    toml.write_text(text)


def follow_long_policy(home: Path) -> None:
    """shop. follows the policy ``long`` (the home's policy file with longer audit
    retention, ``LONG``); example. the home's policy file, now ``[policies] default``."""
    text = (home / "policy.toml").read_text("utf-8")
    longer = text.replace("online_retention_days = 365", "online_retention_days = 730").replace(
        "archive_retention_days = 1095", "archive_retention_days = 1825"
    )
    assert longer != text
    (home / "long.toml").write_text(longer, "utf-8")
    toml = home / "tldsec.toml"
    config = toml.read_text("utf-8")
    config = config.replace(
        '[policy]\nfile = "policy.toml"\n',
        '[policies]\ndefault = "policy.toml"\nlong = "long.toml"\n',
    ).replace("[zones.shop]\n", '[zones.shop]\npolicy = "long"\n')
    toml.write_text(config, "utf-8")
    settings = load_settings(home)
    assert settings.policies["long"].audit == LONG
    assert settings.policies["default"].audit.online_retention == timedelta(days=365)


def aged_log(home: Path, entries: Sequence[tuple[int, str]]) -> None:
    """The home's audit log begun again ``entries[0]`` days ago, with a signed
    ``zone.published`` entry for each (days old, zone), oldest first, and a checkpoint a
    day ago (time follows sequence order in a log)."""
    (home / "audit.db").unlink()
    shutil.rmtree(home / "audit-anchors")
    now = SystemClock().now()
    clock = FakeClock(now - timedelta(days=entries[0][0]))
    log = open_audit_log(load_settings(home), clock)
    try:
        for age, zone in entries:
            clock.set(now - timedelta(days=age))
            log.record("zone.published", actor="component:distributor", zone=zone, age=age)
        clock.set(now - timedelta(days=1))
        log.checkpoint()
    finally:
        log.close()


def cycle(home: Path, origin: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """``tldsec cycle --zone ORIGIN``: its JSON result, which must be a publication."""
    code = main(["cycle", "--home", str(home), "--zone", origin, "--json"])
    out, err = capsys.readouterr()
    result: dict[str, object] = json.loads(out)
    assert code == 0 and result["outcome"] == "published", (result, err)
    return result
