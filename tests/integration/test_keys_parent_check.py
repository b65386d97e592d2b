"""The parent check (keys/gates.py) against real DNS servers on loopback.

``Parent`` is a tiny UDP name server run by the test: it answers DS queries for the
child zone with whatever DS set the test puts in it, as a parent zone's servers would.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from tldsec.cli.main import main
from tldsec.clock import FakeClock
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.keys import gates
from tldsec.keys.database import open_signer_db
from tldsec.keys.ds import DsRecord
from tldsec.keys.gates import ParentServer
from tldsec.keys.service import KeyManager
from tldsec.keys.state import DsState, KeyEvent, Role
from tldsec.policy import load_policy

T0 = datetime(2025, 1, 1, tzinfo=UTC)
ORIGIN = "example."


class Parent:
    """A UDP DNS server on 127.0.0.1 serving one DS RRset for ORIGIN."""

    def __init__(self) -> None:
        self.ds: list[str] = []  # DS RDATA in presentation form
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.server = ParentServer("127.0.0.1", self.sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def publish(self, records: list[DsRecord]) -> None:
        self.ds = [f"{r.key_tag} {r.algorithm} {r.digest_type} {r.digest.hex()}" for r in records]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            q = query.question[0]
            if q.name == dns.name.from_text(ORIGIN) and q.rdtype == dns.rdatatype.DS and self.ds:
                response.answer.append(dns.rrset.from_text_list(q.name, 86400, "IN", "DS", self.ds))
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def parents() -> Iterator[list[Parent]]:
    servers = [Parent(), Parent()]
    yield servers
    for s in servers:
        s.close()


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[KeyManager, FakeClock]]:
    engine = open_signer_db(f"sqlite:///{tmp_path / 'signer.db'}")
    clock = FakeClock(T0)
    # The parent check is tested here, not the backup gate (DPS 5.2.4; tested in
    # test_backup_before_use.py): the first KSK is active, and its DS submitted, at once.
    policy = dataclasses.replace(load_policy(), backup_before_use=False)
    yield KeyManager(engine, MemoryKeyStore(), policy, clock, origin=ORIGIN), clock
    engine.dispose()


def test_ds_seen_only_when_every_parent_server_serves_it(
    parents: list[Parent], manager: tuple[KeyManager, FakeClock]
) -> None:
    km, clock = manager
    (ksk,) = [k for k in km.bootstrap("init") if k.role is Role.KSK]
    servers = [p.server for p in parents]
    check, made = km.check_parent(servers, timeout=2)
    assert made == [] and check.complete  # both answer, neither has the DS yet
    parents[0].publish(km.export_ds())
    _, made = km.check_parent(servers, timeout=2)
    assert made == []  # one server is not enough
    parents[1].publish(km.export_ds(digest_types=(2, 4)))
    clock.advance(timedelta(hours=30))
    _, made = km.check_parent(servers, timeout=2)
    assert [(t.event, t.key_id) for t in made] == [(KeyEvent.DS_SEEN, ksk.key_id)]
    assert "parent check: DS served by all of 127.0.0.1:" in made[0].reason
    assert (
        next(k for k in km.key_records() if k.key_id == ksk.key_id).ds_state_at(clock.now())
        is DsState.SEEN
    )


def test_a_silent_server_opens_no_gate(
    parents: list[Parent], manager: tuple[KeyManager, FakeClock]
) -> None:
    km, _ = manager
    km.bootstrap("init")
    parents[0].publish(km.export_ds())
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))  # bound, never answers
    try:
        silent = ParentServer("127.0.0.1", dead.getsockname()[1])
        check, made = km.check_parent([parents[0].server, silent], timeout=0.3)
    finally:
        dead.close()
    assert made == []
    assert not check.complete
    assert check.answers[1].error is not None and "no answer" in check.answers[1].error


def test_a_ds_that_does_not_match_the_key_is_not_seen(
    parents: list[Parent], manager: tuple[KeyManager, FakeClock]
) -> None:
    km, _ = manager
    km.bootstrap("init")
    (ds,) = km.export_ds()
    wrong = DsRecord(
        ds.owner,
        ds.ttl,
        ds.key_tag,
        ds.algorithm,
        ds.digest_type,
        bytes(32),
        ds.key_id,
        ds.ds_state,
    )
    parents[0].publish([wrong])
    parents[1].publish([wrong])
    _, made = km.check_parent([p.server for p in parents], timeout=2)
    assert made == []


@pytest.mark.parametrize(
    ("text", "server"),
    [
        ("192.0.2.1", ParentServer("192.0.2.1", 53)),
        ("192.0.2.1:5353", ParentServer("192.0.2.1", 5353)),
        ("2001:db8::1", ParentServer("2001:db8::1", 53)),
        ("[2001:db8::1]:5353", ParentServer("2001:db8::1", 5353)),
    ],
)
def test_parent_server_syntax(text: str, server: ParentServer) -> None:
    assert ParentServer.parse(text) == server
    assert ParentServer.parse(str(server)) == server


def test_bad_parent_server_syntax() -> None:
    with pytest.raises(ValueError, match="ADDRESS:PORT"):
        gates.ParentServer.parse("192.0.2.1:http")


def test_check_parent_from_the_cli_with_configured_servers(
    parents: list[Parent], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", ORIGIN, "--keystore", "file"]) == 0
    servers = ", ".join(f'"{p.server}"' for p in parents)
    with (home / "tldsec.toml").open("a") as f:
        f.write(f"\n[keys]\nparent_servers = [{servers}]\n")
    capsys.readouterr()
    assert main(["keys", "export-ds", "--home", str(home), "--json"]) == 0
    ds = json.loads(capsys.readouterr().out)
    for p in parents:
        p.ds = [f"{d['key_tag']} {d['algorithm']} {d['digest_type']} {d['digest']}" for d in ds]
    assert main(["keys", "check-parent", "--home", str(home), "--timeout", "2"]) == 0
    out = capsys.readouterr().out
    assert f"DS key tags {ds[0]['key_tag']}" in out
    assert "ds.seen" in out
