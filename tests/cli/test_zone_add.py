"""``tldsec zone add`` and ``tldsec zone list`` end to end with SoftHSM2 (decision 68): a
home made by ``tldsec init`` for example. gains shop. and market., each with its own
registry row, signer row of the same id, first KSK and ZSK in the one token, directory
and audit entry; every refusal leaves the home as it was."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.cli.test_ceremony import Room
from tests.cli.test_ceremony import room as room  # the fixture
from tldsec.audit.config import open_audit_log
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.cycle.state import CycleState
from tldsec.keys.database import open_signer_db
from tldsec.keys.service import signer_zone_ids
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.models import Zone
from tldsec.registry.zonerows import add_zone_row
from tldsec.settings import load_settings


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """``tldsec init`` (a SoftHSM2 token) for example.: the home a test adds zones to."""
    path = tmp_path / "home"
    assert main(["init", "--home", str(path), "--origin", "example."]) == 0
    capsys.readouterr()
    return path


def registry_zones(home: Path) -> dict[str, int]:
    db = RegistryDatabase.from_url(load_settings(home).registry_db_url)
    try:
        with db.read() as session:
            return {z.origin: z.id for z in session.scalars(select(Zone))}
    finally:
        db.dispose()


def signer_zones(home: Path) -> dict[str, int]:
    engine = open_signer_db(load_settings(home).signer_db_url)
    try:
        return signer_zone_ids(engine)
    finally:
        engine.dispose()


def as_zones(home: Path, *names: str) -> None:
    """tldsec.toml as the operator edits it: [zone] renamed [zones.example], one table
    per name after it."""
    toml = home / "tldsec.toml"
    tables = "".join(f"\n[zones.{n}]\n" for n in names)
    text = toml.read_text().replace('[zone]\norigin = "example."\n', "[zones.example]\n" + tables)
    assert "[zone]" not in text
    toml.write_text(text)


def test_second_and_third_zones_added_to_an_init_home(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (home / "tldsec.toml").read_text()
    # Not in tldsec.toml: the table to paste, exit 2, nothing made or rewritten.
    code, out, _ = run(capsys, "zone", "add", "shop", "--home", str(home))
    assert code == 2
    assert "shop. is not in" in out and "Rename [zone] to [zones.example]" in out
    assert '[zones.shop]\npolicy = "default"' in out
    assert (home / "tldsec.toml").read_text() == before
    assert registry_zones(home) == {"example.": 1}

    as_zones(home, "shop", "market")
    code, out, err = run(capsys, "zone", "add", "shop.", "--home", str(home))
    assert code == 0, err
    assert "zone shop. added: zone 2, policy default" in out
    assert "KSK" in out and "ZSK" in out and "registrar accredit ID shop." in out
    code, out, err = run(capsys, "zone", "add", "Market", "--home", str(home))
    assert code == 0, err
    assert "zone market. added: zone 3" in out
    # The signer's ids are the registry's (decision 60).
    assert registry_zones(home) == {"example.": 1, "shop.": 2, "market.": 3}
    assert signer_zones(home) == {"example.": 1, "shop.": 2, "market.": 3}
    assert (home / "zones" / "shop").is_dir() and (home / "zones" / "market").is_dir()

    code, out, _ = run(capsys, "keys", "list", "--home", str(home), "--json")
    listed = json.loads(out)["zones"]
    assert list(listed) == ["example.", "shop.", "market."]
    ids = [{k["key_id"] for k in listed[o]} for o in listed]
    assert all(len(keys) == 3 for keys in ids)  # KSK, ZSK, standby ZSK each
    assert not (ids[0] & ids[1]) and not (ids[1] & ids[2]) and not (ids[0] & ids[2])
    code, out, _ = run(capsys, "keys", "export-ds", "--home", str(home), "--zone", "market")
    assert code == 0 and out.startswith("== market. ==\nmarket. 86400 IN DS ")

    code, out, _ = run(capsys, "zone", "list", "--home", str(home), "--json")
    assert code == 0
    zones = json.loads(out)["zones"]
    assert list(zones) == ["example.", "shop.", "market."]
    assert [zones[o]["zone_id"] for o in zones] == [1, 2, 3]
    for z in zones.values():
        assert z["keys"] == {"ksk active": 1, "zsk active": 1, "zsk published": 1}
        assert z["next_key_event"]["due"] is not None
        assert z["health"] is None and z["serial"] is None  # no cycle ran yet
    code, out, _ = run(capsys, "zone", "list", "--home", str(home))
    assert "shop.  zone 2, policy default, serial -" in out and "last cycle: -" in out

    settings = load_settings(home)
    audit = open_audit_log(settings.for_zone("shop"), SystemClock())
    try:
        added = list(iter_entries(audit.engine, EntryFilter(events=("zone.added",))))
    finally:
        audit.close()
    assert [(e.zone, e.details["zone_id"]) for e in added] == [("shop.", 2), ("market.", 3)]
    assert all(e.actor.startswith("person:") for e in added)

    # Refusals, each changing nothing.
    code, _, err = run(capsys, "zone", "add", "shop", "--home", str(home))
    assert code != 0 and "zone add shop.: the zone is already added (zone 2" in err
    code, _, err = run(capsys, "zone", "add", "example", "--home", str(home))
    assert code != 0 and "the zone is already added (zone 1" in err  # made by tldsec init
    code, _, err = run(capsys, "zone", "add", "co.shop", "--home", str(home))
    assert code != 0 and "this home serves shop., and one home does not serve a zone" in err
    code, _, err = run(capsys, "zone", "add", "org", "--policy", "strict", "--home", str(home))
    assert code != 0 and "--policy 'strict' is not in [policies]" in err
    code, _, err = run(capsys, "zone", "add", "shop", "--policy", "x y", "--home", str(home))
    assert code != 0 and "is not in [policies]" in err
    code, _, err = run(capsys, "zone", "add", "a b", "--home", str(home))
    assert code != 0 and "'a b' is not a zone name" in err
    assert registry_zones(home) == {"example.": 1, "shop.": 2, "market.": 3}
    assert signer_zones(home) == {"example.": 1, "shop.": 2, "market.": 3}


def test_a_run_cut_short_is_finished_by_the_next(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    as_zones(home, "shop")
    # Cut short after its first step: the registry row is there, nothing else.
    db = RegistryDatabase.from_url(load_settings(home).registry_db_url)
    try:
        with db.write() as session:
            assert add_zone_row(session, "shop.", "default", datetime.now(UTC)) == (2, True)
        with db.write() as session:
            assert add_zone_row(session, "shop", "default", datetime.now(UTC)) == (2, False)
    finally:
        db.dispose()
    code, out, err = run(capsys, "zone", "add", "shop", "--home", str(home))
    assert code == 0, err
    assert "zone shop. added: zone 2" in out
    assert signer_zones(home) == {"example.": 1, "shop.": 2}


def test_under_a_required_ceremony_no_key_is_made_without_one(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    as_zones(home, "shop")
    toml = home / "tldsec.toml"
    toml.write_text(toml.read_text() + '\n[ceremony]\nrequired = ["keys.generate"]\n')
    code, _, err = run(capsys, "zone", "add", "shop", "--home", str(home))
    assert code != 0 and "keys.generate runs only under a key ceremony" in err
    code, out, _ = run(capsys, "keys", "list", "--home", str(home), "--zone", "shop", "--json")
    assert json.loads(out)["zones"]["shop."] == []


def test_under_the_dps_ceremonies_the_first_keys_need_one_for_that_zone(room: Room) -> None:
    """[ceremony] required = "all" (DPS 4.2.2): zone add makes the first keys only under
    a keys.generate ceremony that names the zone (SA + SO + WI); one for another zone,
    or none, is refused and makes no key."""
    toml = room.home / "tldsec.toml"
    toml.write_text(
        toml.read_text().replace(
            '[zone]\norigin = "example."\n', "[zones.example]\n\n[zones.shop]\n\n[zones.market]\n"
        )
    )
    # The edited tldsec.toml is approved first (DPS 4.2.2: signer.config), as any change.
    err = room.refused("zone", "add", "shop")
    assert "tldsec zone add shop. refused: config" in err
    params = re.findall(r"--param (\w+=\w+)", err)
    approval = room.ceremony("signer.config", ("ann", "cho"), *params)
    room.ok("config", "approve", "--ceremony", approval)
    err = room.refused("zone", "add", "shop")
    assert "keys.generate runs only under a key ceremony" in err
    other = room.ceremony("keys.generate", ("amy", "ben", "cy"), "zone=market.")
    err = room.refused("zone", "add", "shop", "--ceremony", other)
    assert "zone" in err and "market." in err
    assert not json.loads(room.ok("keys", "list", "--zone", "shop", "--json"))["zones"]["shop."]
    ceremony = room.ceremony("keys.generate", ("amy", "ben", "cy"), "zone=shop.")
    out = room.ok("zone", "add", "shop", "--ceremony", ceremony)
    assert "zone shop. added: zone 2" in out and f"ceremony {ceremony}: record written" in out
    added = room.events("zone.added")
    assert [e["details"]["ceremony"] for e in added] == [ceremony]  # type: ignore[index]
    listed = json.loads(room.ok("keys", "list", "--zone", "shop", "--json"))["zones"]["shop."]
    assert {k["role"] for k in listed} == {"ksk", "zsk"}


def test_zone_list_shows_each_zones_last_cycle(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    as_zones(home, "shop")
    assert main(["zone", "add", "shop", "--home", str(home)]) == 0
    last = {"outcome": "failed", "started": "2026-12-07T10:00:00Z", "stage": "sign",
            "error": "the HSM is locked", "distributed": 2026120701}  # fmt: skip
    CycleState(serial=2026120701, last=last).save(home / "zones" / "shop" / "cycle.json")
    capsys.readouterr()
    code, out, _ = run(capsys, "zone", "list", "--home", str(home), "--json")
    assert code == 0
    zones = json.loads(out)["zones"]
    assert zones["shop."]["health"]["outcome"] == "failed"
    assert zones["shop."]["health"]["error"] == "the HSM is locked"
    assert zones["example."]["health"] is None  # its cycle never ran
    code, out, _ = run(capsys, "zone", "list", "--home", str(home))
    assert code == 0
    assert "  last cycle: failed at 2026-12-07T10:00:00Z: the HSM is locked" in out
