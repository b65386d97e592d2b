"""serve's parent check (service/parent.py): asked only while a KSK's DS waits at a parent
gate, or an operator transfer waits for the gaining operator's DS, at most every
``[keys] parent_check_seconds``, through the validated path; a DS with our key tag and
another digest is an anomaly in the audit log, once.

The parent is a test root signed with dnspython and served by NSD
(tests/integration/signed_parent.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.distribute.nameservers import nsd_available
from tests.integration.signed_parent import SignedRoot
from tldsec.audit.config import open_audit_log
from tldsec.audit.query import EntryFilter, count_entries
from tldsec.cli.main import main
from tldsec.clock import FakeClock
from tldsec.keys.database import open_signer_db
from tldsec.keys.service import KeyManager
from tldsec.keys.state import DsState, Role
from tldsec.keys.transfer_service import TransferManager
from tldsec.service.parent import ParentCheckPass
from tldsec.settings import Settings, load_settings

pytestmark = pytest.mark.skipif(not nsd_available(), reason="needs NSD (Debian package nsd)")
ORIGIN = "example."


@pytest.fixture
def roots(tmp_path: Path) -> Iterator[list[SignedRoot]]:
    now = datetime.now(UTC)
    first = SignedRoot(tmp_path / "root-a", ORIGIN, now)
    second = SignedRoot(tmp_path / "root-b", ORIGIN, now, key=first.key)
    yield [first, second]
    for r in (first, second):
        r.stop()


def _home(tmp_path: Path, roots: list[SignedRoot], capsys: pytest.CaptureFixture[str]) -> Path:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", ORIGIN, "--keystore", "file"]) == 0
    (home / "parent.key").write_text(roots[0].anchor_text + "\n")
    capsys.readouterr()
    return home


def _configure(home: Path, roots: list[SignedRoot]) -> Settings:
    servers = ", ".join(f'"{r.server}"' for r in roots)
    text = (home / "tldsec.toml").read_text().split("\n[keys]\n")[0]
    text += (
        f'\n[keys]\nparent_servers = [{servers}]\nparent_trust_anchor = "parent.key"\n'
        "parent_check_seconds = 3600\n"
    )
    (home / "tldsec.toml").write_text(text)
    return load_settings(home)


def _ds(home: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["keys", "export-ds", "--home", str(home), "--json"]) == 0
    return [
        f"{d['key_tag']} {d['algorithm']} {d['digest_type']} {d['digest']}"
        for d in json.loads(capsys.readouterr().out)
    ]


def _ksk_ds_state(settings: Settings, clock: FakeClock) -> DsState:
    engine = open_signer_db(settings.signer_db_url)
    try:
        km = KeyManager(engine, None, settings.policy, clock, origin=settings.origin)
        (ksk,) = [k for k in km.key_records() if k.role is Role.KSK]
        return ksk.ds_state_at(clock.now())
    finally:
        engine.dispose()


def _anomalies(settings: Settings, clock: FakeClock) -> int:
    log = open_audit_log(settings, clock)
    try:
        return count_entries(log.engine, EntryFilter(events=("system.anomaly",)))
    finally:
        log.close()


def test_the_pass_opens_ds_seen_then_asks_nothing_while_no_gate_waits(
    roots: list[SignedRoot], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = _home(tmp_path, roots, capsys)
    for r in roots:
        r.publish(_ds(home, capsys))
    settings = _configure(home, roots)
    clock = FakeClock(datetime.now(UTC))
    parent = ParentCheckPass(settings, clock)
    assert _ksk_ds_state(settings, clock) is DsState.SUBMITTED
    check = parent()
    assert check is not None and check.complete
    assert _ksk_ds_state(settings, clock) is DsState.SEEN
    clock.advance(timedelta(hours=2))
    assert parent() is None  # nothing waits at a parent gate: nothing is asked
    assert parent.last_check is check


def test_the_pass_waits_its_interval_and_names_a_wrong_digest_once(
    roots: list[SignedRoot], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = _home(tmp_path, roots, capsys)
    (line,) = _ds(home, capsys)
    tag, alg, dtype, _ = line.split()
    for r in roots:
        r.publish([f"{tag} {alg} {dtype} {'00' * 32}"])
    settings = _configure(home, roots)
    clock = FakeClock(datetime.now(UTC))
    parent = ParentCheckPass(settings, clock)
    before = _anomalies(settings, clock)
    check = parent()
    assert check is not None and check.complete
    assert _ksk_ds_state(settings, clock) is DsState.SUBMITTED  # the gate stays shut
    assert _anomalies(settings, clock) == before + 2  # one finding per server
    clock.advance(timedelta(minutes=30))
    assert parent() is None  # within parent_check_seconds
    clock.advance(timedelta(minutes=31))
    assert parent() is not None
    assert _anomalies(settings, clock) == before + 2  # the same findings, not again


def test_no_parent_servers_no_question(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", ORIGIN, "--keystore", "file"]) == 0
    parent = ParentCheckPass(load_settings(home), FakeClock(datetime.now(UTC)))
    assert parent() is None


def _gaining_dnskeys() -> str:
    from tests.keys.test_transfer import dnskey_line

    return dnskey_line(257, 2048) + "\n" + dnskey_line(256, 1024) + "\n"


def test_the_pass_records_the_gaining_operators_ds_then_asks_nothing(
    roots: list[SignedRoot], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = _home(tmp_path, roots, capsys)
    ours = _ds(home, capsys)
    settings = load_settings(home)
    clock = FakeClock(datetime.now(UTC))
    engine = open_signer_db(settings.signer_db_url)
    try:
        km = KeyManager(engine, None, settings.policy, clock, origin=settings.origin)
        (ksk,) = [k for k in km.key_records() if k.role is Role.KSK]
        km.ds_seen(str(ksk.key_tag), "seen by hand")  # no gate of ours waits
        tm = TransferManager(km)
        tm.import_dnskeys(_gaining_dnskeys(), "gaining", "sale")
        theirs = [
            f"{d.key_tag} {d.algorithm} {d.digest_type} {d.digest.hex()}" for d in tm.peer_ds()
        ]

        # Their DS on one parent server only: asked, nothing recorded (every server must).
        roots[0].publish(ours + theirs)
        roots[1].publish(ours)
        parent = ParentCheckPass(_configure(home, roots), clock)
        check = parent()
        assert check is not None and check.complete
        tr = tm.current()
        assert tr is not None and tr.peer_ds_seen is None

        roots[1].publish(ours + theirs)  # NSD moved to a new port: a pass configured for it
        parent = ParentCheckPass(_configure(home, roots), clock)
        clock.advance(timedelta(minutes=1))
        assert parent() is not None
        tr = tm.current()
        assert tr is not None and tr.peer_ds_seen == clock.now()
        steps = {s.name: s for s in tm.status()}
        assert steps["peer-ds"].done == clock.now()
        clock.advance(timedelta(hours=2))
        assert parent() is None  # seen: the transfer waits for nothing at the parent
    finally:
        engine.dispose()
    log = open_audit_log(settings, clock)
    try:
        assert count_entries(log.engine, EntryFilter(events=("key.transfer_peer_ds_seen",))) == 1
    finally:
        log.close()
