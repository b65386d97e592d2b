"""The home made by release 0.1.0 (one zone), upgraded and opened by this checkout's code.

Issue 19 item 6: the frozen home (tests/fixtures/homes/one-zone-0.1.0) after ``tldsec db
upgrade`` is its one zone's, in the zone schema of decisions 57 and 60, and is found as
it was left: same zone, serial, keys, registrars, domains, and an audit log that still
verifies; the databases the schema changed are refused until upgraded. The clock is the
build's, plus an hour (a FakeClock behind SystemClock), so the result does not depend on
the day it runs.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.distribute.homes import zone_home
from tests.fixtures.epp import RunningServer, TlsFiles
from tests.fixtures.homes import ONE_ZONE, built_until, copy_home, manifest
from tests.fixtures.registry import RegistryWorld
from tldsec.audit.schema import head_revision as audit_head_revision
from tldsec.cli.main import main
from tldsec.clock import FakeClock, SystemClock
from tldsec.epp.server import ServerLimits
from tldsec.registry.context import rules_from_settings
from tldsec.registry.database import RegistryDatabase
from tldsec.settings import load_settings
from tldsec.zonefiles import load_state, save_state


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clock = FakeClock(built_until(ONE_ZONE) + timedelta(hours=1))
    monkeypatch.setattr(SystemClock, "now", lambda self: clock.now())
    return copy_home(ONE_ZONE, tmp_path / "home")


@pytest.fixture
def upgraded(home: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The copy after 'tldsec db upgrade', as an operator upgrades before starting."""
    assert main(["db", "upgrade", "--home", str(home)]) == 0
    capsys.readouterr()
    return home


def rows(path: Path, query: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


OLD_STORE = Path("zones", "dist")  # 0.1.0's store, before each zone had its directory


def serial(home: Path) -> int:
    """The serial the upgraded home's store distributes (zones/example/dist)."""
    return int((zone_home(home).dist / "current").read_text().strip())


def files(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file below ``directory``: (inode, mtime_ns, bytes), by relative path."""
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name != ".lock":
            st = path.stat()
            out[str(path.relative_to(directory))] = (st.st_ino, st.st_mtime_ns, path.read_bytes())
    return out


def test_the_copy_names_no_directory_but_its_own(home: Path) -> None:
    conf = (home / "softhsm2.conf").read_text()
    assert f"directories.tokendir = {home}/tokens" in conf
    assert "@HOME@" not in conf


def test_a_registry_not_yet_upgraded_is_refused_with_the_command_to_run(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registrar", "list", "--home", str(home), "--json"]) == 1
    assert "run 'tldsec db upgrade'" in capsys.readouterr().err


def test_the_registry_becomes_its_one_zones_with_every_registrar_accredited(
    upgraded: Path,
) -> None:
    home = upgraded
    registry = home / "registry.db"
    assert rows(registry, "SELECT id, origin, policy, closed_at FROM zone") == [
        (1, manifest(ONE_ZONE)["origin"], "default", None)
    ]
    accredited = rows(
        registry,
        "SELECT r.client_id, z.zone_id, z.accredited_at = r.created_at, z.revoked_at"
        " FROM registrar_zone z JOIN registrar r ON r.id = z.registrar_id ORDER BY 1",
    )
    assert accredited == [(c, 1, 1, None) for c in manifest(ONE_ZONE)["registrars"]]
    for table in ("domain", "zone_change", "zone_digest", "serial_trace"):
        assert rows(registry, f"SELECT DISTINCT zone_id FROM {table}") in ([(1,)], []), table
    assert rows(registry, "SELECT count(*) FROM domain WHERE zone_id = 1") == [
        (manifest(ONE_ZONE)["domains"],)
    ]
    hosts = rows(registry, "SELECT name, zone_id FROM host")
    assert hosts and all((z == 1) == (n == "example" or n.endswith(".example")) for n, z in hosts)


def test_the_publication_lease_becomes_its_one_zones_with_its_fencing_token(
    home: Path,
) -> None:
    """Decision 65: the one row ``zone`` is renamed to the zone's origin, holder and
    token kept, so a primary that saw the token goes on refusing an older one."""
    registry = home / "registry.db"
    assert rows(registry, "SELECT name, holder, token FROM publication_lease") == [("zone", "", 0)]
    db = sqlite3.connect(registry)  # as a signer of 0.1.0 left it after a few takeovers
    try:
        db.execute("UPDATE publication_lease SET holder = 'site-b:/home', token = 7")
        db.commit()
    finally:
        db.close()
    assert main(["db", "upgrade", "--home", str(home)]) == 0
    assert rows(registry, "SELECT name, holder, token FROM publication_lease") == [
        (manifest(ONE_ZONE)["origin"], "site-b:/home", 7)
    ]


def test_the_keys_become_its_one_zones_and_none_is_made(home: Path) -> None:
    signer = home / "signer.db"
    keys = "SELECT key_id, key_tag, role, public_key, published, active FROM signer_keys"
    before = rows(signer, keys)
    events = rows(signer, "SELECT count(*) FROM signer_key_events")
    assert main(["db", "upgrade", "--home", str(home)]) == 0
    assert rows(signer, keys) == before and len(before) >= 3
    assert rows(signer, "SELECT count(*) FROM signer_key_events") == events
    assert rows(signer, "SELECT DISTINCT zone_id FROM signer_keys") == [(1,)]
    assert rows(signer, "SELECT id, origin FROM signer_meta") == [(1, manifest(ONE_ZONE)["origin"])]


def test_status_shows_the_zone_as_it_was_left(
    upgraded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = upgraded
    assert main(["status", "--home", str(home), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["zone"] == manifest(ONE_ZONE)["origin"] == "example."
    assert serial(home) == status["serial"]


def test_the_old_audit_log_verifies(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--home", str(home)]) == 0
    assert "OK: the audit log is intact" in capsys.readouterr().out


def test_a_cycle_with_no_change_publishes_nothing_new(
    upgraded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = upgraded
    before = serial(home)
    assert main(["cycle", "--home", str(home)]) == 0
    assert "nothing changed and nothing is due" in capsys.readouterr().out
    assert serial(home) == before


def test_the_registry_holds_what_the_build_made(
    upgraded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = upgraded
    db = sqlite3.connect(home / "registry.db")
    try:
        domains = db.execute("SELECT count(*) FROM domain").fetchone()[0]
        with_ds = db.execute("SELECT count(DISTINCT domain_id) FROM ds_record").fetchone()[0]
    finally:
        db.close()
    assert (domains, with_ds) == (manifest(ONE_ZONE)["domains"], 10)
    assert main(["registrar", "list", "--home", str(home), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(r["client_id"] for r in listed) == manifest(ONE_ZONE)["registrars"]


def test_the_old_log_takes_entries_that_name_their_zone_and_still_verifies(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 19 item 5 on a log written before entries named their zone."""
    old = sqlite3.connect(home / "audit.db")
    try:
        old_entries = old.execute("SELECT count(*) FROM audit_entries").fetchone()[0]
    finally:
        old.close()

    def run(*argv: str) -> tuple[int, str]:
        code = main([*argv, "--home", str(home)])
        return code, capsys.readouterr().out

    assert run("audit", "record", "key.generated", "--actor", "person:op")[0] == 0
    assert run("audit", "record", "facility.entry", "--actor", "person:op")[0] == 0
    assert run("audit", "verify")[0] == 0
    code, out = run("audit", "show", "--json", "--zone", "example")
    shown = json.loads(out)
    assert all("zone" not in e for e in shown[:old_entries])  # written by 0.1.0
    mine = {e["event"]: e.get("zone") for e in shown if e["actor"] == "person:op"}
    assert mine == {"key.generated": "example.", "facility.entry": None}
    code, out = run("audit", "show", "--json", "--zone", "other.")
    assert "example." not in {e.get("zone") for e in json.loads(out)}
    export = home / "export.jsonl"
    assert run("audit", "export", "-o", str(export))[0] == 0
    assert run("audit", "verify", "--archive", str(export))[0] == 0
    # An old entry given a zone afterwards (an attacker with the file) is found.
    db = sqlite3.connect(home / "audit.db", isolation_level=None)
    try:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            db.execute(f"DROP TRIGGER {name}")
        db.execute("UPDATE audit_entries SET zone = 'example.' WHERE seq = 5")
    finally:
        db.close()
    code, out = run("audit", "verify", "--no-record")
    assert code == 3 and "modified at seq 5" in out


def test_db_upgrade_keeps_the_zone_serial_keys_and_log(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The path the next release's upgrade takes: 'tldsec db upgrade' first, then the
    home works as it did: same serial, same keys, no re-signing, the log intact."""

    def keys() -> list[tuple[str, int, str]]:
        db = sqlite3.connect(home / "signer.db")
        try:
            return sorted(db.execute("SELECT key_id, key_tag, role FROM signer_keys"))
        finally:
            db.close()

    before_serial = int((home / OLD_STORE / "current").read_text().strip())
    before_keys = keys()
    signed = (home / OLD_STORE / f"{before_serial}.zone").read_bytes()
    assert main(["db", "upgrade", "--home", str(home)]) == 0
    assert "moved cycle.json, last-report.json, reports, work, dist" in capsys.readouterr().out
    assert main(["db", "upgrade", "--home", str(home)]) == 0  # again: nothing to do
    assert "moved" not in capsys.readouterr().out
    db = sqlite3.connect(home / "audit.db")
    try:
        audit_revision = db.execute("SELECT version_num FROM alembic_version_audit").fetchone()
    finally:
        db.close()
    assert audit_revision == (audit_head_revision(),)
    assert main(["audit", "verify", "--home", str(home)]) == 0
    assert main(["cycle", "--home", str(home)]) == 0
    assert "nothing changed and nothing is due" in capsys.readouterr().out
    assert (serial(home), keys()) == (before_serial, before_keys)
    assert (zone_home(home).dist / f"{before_serial}.zone").read_bytes() == signed


def test_db_upgrade_moves_the_zones_files_into_its_directory_keeping_inodes_and_mtimes(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Decision 57's layout: zones/{cycle.json,...,dist} become zones/example/... by
    rename, so the gate's record of the published file (its inode and mtime) still
    describes it and the next cycle is "unchanged" with the same serial, not re-signed."""
    zones = home / "zones"
    old_serial = int((home / OLD_STORE / "current").read_text().strip())
    published = home / OLD_STORE / f"{old_serial}.zone"
    # The copy gave every file a new inode: record the copy as the gate would have.
    state_path = home / OLD_STORE / "verify-state.json"
    state = load_state(state_path)
    assert state is not None
    st = published.stat()
    save_state(state_path, replace(state, inode=st.st_ino, mtime_ns=st.st_mtime_ns))
    before = files(zones)
    assert main(["db", "upgrade", "--home", str(home)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in zones.iterdir()) == ["example"]
    assert files(zone_home(home).root) == before  # same inodes, mtimes and bytes
    moved = load_state(zone_home(home).dist / "verify-state.json")
    assert moved is not None and moved.describes(zone_home(home).dist / f"{old_serial}.zone")
    assert main(["cycle", "--home", str(home), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outcome"] == "unchanged" and serial(home) == old_serial
    assert set(files(zone_home(home).root)) >= set(before)
    assert not (zones / "cycle.json").exists() and not (zones / "dist").exists()


def test_registrars_log_in_over_epp_with_their_old_passwords(
    upgraded: Path, tls_files: TlsFiles
) -> None:
    """The registrars and their EPP passwords survive the upgrade: each logs in with the
    manifest's password and finds its domains (RFC 5730 2.9.1.1, RFC 5731 3.1.2)."""
    settings = load_settings(upgraded)
    db = RegistryDatabase.from_url(settings.registry_db_url)
    world = RegistryWorld(db, rules=rules_from_settings(settings))
    server = RunningServer(world, tls_files, ServerLimits(workers=2, idle_timeout=20))
    try:
        with db.read() as s:
            name = s.execute(text("SELECT name FROM domain ORDER BY name LIMIT 1")).scalar_one()
        for client_id in manifest(ONE_ZONE)["registrars"]:
            client = server.client()
            try:
                login = client.login(client_id, manifest(ONE_ZONE)["registrar_password"])
                assert login.code == 1000, login.message
                info = client.domain_info(name)
                assert info.code == 1000, info.message
                wrong = server.client()
                try:
                    assert wrong.login(client_id, "not-the-password").code == 2200
                finally:
                    wrong.close()
            finally:
                client.close()
    finally:
        server.stop()
        db.dispose()


def test_a_cycle_refuses_a_home_whose_files_are_still_in_zones(
    upgraded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A home at the newest schema but in the old layout (upgraded by a release before
    decision 57's move): the cycle would start the zone afresh in zones/example/, so it
    refuses, naming what is left and the command; db upgrade then moves them."""
    home, zones = upgraded, upgraded / "zones"
    for entry in sorted(zone_home(home).root.iterdir()):
        entry.rename(zones / entry.name)
    zone_home(home).root.rmdir()
    before = files(zones)
    assert main(["cycle", "--home", str(home)]) == 1
    err = capsys.readouterr().err
    assert "cycle.json, last-report.json, reports, work, dist still in" in err
    assert "run 'tldsec db upgrade'" in err
    assert files(zones) == before and not zone_home(home).root.exists()  # nothing written
    assert main(["db", "upgrade", "--home", str(home)]) == 0
    assert "already at the newest schema" in (out := capsys.readouterr().out) and "moved" in out
    assert main(["cycle", "--home", str(home)]) == 0
    assert "nothing changed and nothing is due" in capsys.readouterr().out
