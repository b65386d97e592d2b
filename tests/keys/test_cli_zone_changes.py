"""``--zone`` on the commands that change one zone (decision 57, "CLI --zone
conventions"; decision 68): in a home of example. and shop., each acts on the zone named
and only on it, its audit entries name that zone, and without ``--zone`` it exits 2."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tldsec.audit.config import open_audit_log
from tldsec.audit.query import iter_entries
from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.settings import load_settings

DPS = Path(__file__).parents[1] / "fixtures" / "dps-model.txt"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """``tldsec init`` for example., then ``[zones.shop]`` and ``tldsec zone add shop``."""
    path = tmp_path / "home"
    assert main(["init", "--home", str(path), "--origin", "example.", "--keystore", "file"]) == 0
    toml = path / "tldsec.toml"
    toml.write_text(
        toml.read_text().replace(
            '[zone]\norigin = "example."\n', "[zones.example]\n\n[zones.shop]\n"
        )
    )
    assert main(["zone", "add", "shop", "--home", str(path)]) == 0
    capsys.readouterr()
    return path


def keys(capsys: pytest.CaptureFixture[str], home: Path, zone: str) -> list[dict[str, Any]]:
    code, out, _ = run(capsys, "keys", "list", "--home", str(home), "--zone", zone, "--json")
    assert code == 0
    listed: list[dict[str, Any]] = json.loads(out)["zones"][zone]
    return listed


def entries_after(home: Path, seq: int) -> list[tuple[str, str | None]]:
    audit = open_audit_log(load_settings(home).for_zone("example"), SystemClock())
    try:
        return [(e.event, e.zone) for e in iter_entries(audit.engine) if e.seq > seq]
    finally:
        audit.close()


def head(home: Path) -> int:
    audit = open_audit_log(load_settings(home).for_zone("example"), SystemClock())
    try:
        return audit.head().seq
    finally:
        audit.close()


def test_a_rollover_of_shop_touches_only_shops_keys_and_names_shop(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example_before = keys(capsys, home, "example.")
    shop_before = keys(capsys, home, "shop.")
    seq = head(home)
    code, _, err = run(capsys, "keys", "rollover", "--ksk", "--reason", "r", "--home", str(home))
    assert code == 2
    assert "this home serves example., shop.: name one with --zone" in err
    assert head(home) == seq  # refused before anything was written

    code, out, err = run(
        capsys, "keys", "rollover", "--ksk", "--reason", "yearly", "--zone", "shop",
        "--home", str(home),
    )  # fmt: skip
    assert code == 0, err
    assert keys(capsys, home, "example.") == example_before
    shop_after = keys(capsys, home, "shop.")
    assert len(shop_after) == len(shop_before) + 1  # the successor KSK
    written = entries_after(home, seq)
    assert ("key.rollover_started", "shop.") in written
    assert all(zone == "shop." for event, zone in written if event.startswith("key."))

    # The history, and the emergency roll, of one zone.
    code, out, _ = run(capsys, "keys", "history", "--zone", "shop.", "--home", str(home), "--json")
    assert code == 0
    shop_ids = {k["key_id"] for k in shop_after}
    assert {e["key_id"] for e in json.loads(out)} <= shop_ids
    seq = head(home)
    code, out, err = run(
        capsys, "keys", "rollover", "--zsk", "--emergency", "--yes", "--reason", "leaked",
        "--zone", "shop", "--home", str(home),
    )  # fmt: skip
    assert code == 0, err
    assert keys(capsys, home, "example.") == example_before
    written = entries_after(home, seq)
    assert ("key.emergency_rollover", "shop.") in written
    assert not [z for e, z in written if e.startswith("key.") and z != "shop."]


def test_ds_seen_go_insecure_and_transfer_act_on_the_zone_named(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example_before = keys(capsys, home, "example.")
    shop_ksk = next(k for k in keys(capsys, home, "shop.") if k["role"] == "ksk")
    example_ksk = next(k for k in example_before if k["role"] == "ksk")
    # A tag of example.'s is not one of shop.'s keys (unless the two collide by chance).
    if example_ksk["key_tag"] != shop_ksk["key_tag"]:
        code, _, err = run(capsys, "keys", "ds-seen", str(example_ksk["key_tag"]), "--zone",
                           "shop", "--home", str(home))  # fmt: skip
        assert code != 0
    code, out, err = run(capsys, "keys", "ds-seen", str(shop_ksk["key_tag"]), "--zone", "shop",
                         "--home", str(home))  # fmt: skip
    assert code == 0, err
    seen = next(k for k in keys(capsys, home, "shop.") if k["key_id"] == shop_ksk["key_id"])
    assert seen["ds_seen"] is not None
    assert keys(capsys, home, "example.") == example_before

    code, _, err = run(capsys, "keys", "go-insecure", "--reason", "x", "--home", str(home))
    assert code == 2 and "name one with --zone" in err
    code, out, err = run(capsys, "keys", "go-insecure", "--reason", "closing shop",
                         "--zone", "shop", "--home", str(home))  # fmt: skip
    assert code == 0, err
    code, out, _ = run(capsys, "keys", "plan", "--home", str(home), "--json")
    plans = json.loads(out)["zones"]
    going = {"ds-gone", "unsign"}
    assert going <= {s["action"] for s in plans["shop."]}
    assert not going & {s["action"] for s in plans["example."]}

    code, out, err = run(capsys, "keys", "transfer", "export", "--zone", "example",
                         "--home", str(home))  # fmt: skip
    assert code == 0, err
    assert "example." in out and "shop." not in out
    code, _, err = run(capsys, "keys", "transfer", "status", "--home", str(home))
    assert code == 2 and "name one with --zone" in err


def test_publish_and_notify_name_their_zone(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (home / "dps.txt").write_text(DPS.read_text("utf-8"), "utf-8")
    with (home / "tldsec.toml").open("a", encoding="utf-8") as f:
        f.write('\n[[publish.dps]]\nversion = "1.0"\nfile = "dps.txt"\neffective = "2020-01-01"\n')
    code, _, err = run(capsys, "publish", "--home", str(home))
    assert code == 2 and "this home serves example., shop.: name one with --zone" in err
    code, _, err = run(capsys, "publish", "--zone", "shop", "--home", str(home))
    assert code != 0 and "write {zone} in it" in err
    seq = head(home)
    out_dir = tmp_path / "site-shop"
    code, out, err = run(capsys, "publish", "--zone", "shop", "-o", str(out_dir),
                         "--home", str(home), "--json")  # fmt: skip
    assert code == 0, err
    shop_tags = {k["key_tag"] for k in keys(capsys, home, "shop.") if k["role"] == "ksk"}
    assert set(json.loads(out)["ds"]) == shop_tags
    assert ("repository.published", "shop.") in entries_after(home, seq)

    code, _, err = run(capsys, "notify", "run", "--home", str(home))
    assert code == 2 and "name one with --zone" in err
    code, out, err = run(capsys, "notify", "run", "--zone", "shop", "--home", str(home))
    assert code == 0, err


def test_simulate_shows_the_staggered_rolls_under_the_built_in_policy(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two zones whose KSKs were made the same day, at the DPS maximum lifetime: the
    second zone's rolls come forward 7 days (decision 68); --zone shows its timeline."""
    argv = ("keys", "simulate", "--home", str(home), "--days", "800", "--start", "2027-01-01")
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    zones = json.loads(out)["zones"]

    def asked(events: list[dict[str, Any]]) -> list[datetime]:
        wanted = ("ds.submitted", "ds.withdrawal-requested")
        times = [e["time"] for e in events if e["event"] in wanted and e["role"] == "ksk"]
        return [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times][1:]

    example, shop = asked(zones["example."]), asked(zones["shop."])
    assert len(example) >= 4 and len(shop) == len(example)
    assert [(a - b).days for a, b in zip(example, shop, strict=True)] == [7] * len(shop)
    code, out, _ = run(capsys, *argv, "--zone", "shop", "--json")
    assert json.loads(out)["zones"] == {"shop.": zones["shop."]}
