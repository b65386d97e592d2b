"""The parent check (keys/gates.py, keys/parentproof.py) against real name servers.

The parent is a test root signed with dnspython and served by NSD (``signed_parent``); the
check gets the root's DNSKEY as its trust anchor. A gate opens only on authoritative,
validated answers from every server (DPS 2.2); a forged answer from a plain UDP server
(``Forger``) never moves a rollover.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.distribute.nameservers import nsd_available
from tests.integration.signed_parent import SignedRoot, ds_lines
from tldsec.cli.main import main
from tldsec.clock import FakeClock
from tldsec.errors import ConfigError
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.keys import gates
from tldsec.keys.database import open_signer_db
from tldsec.keys.gates import ParentServer
from tldsec.keys.parentproof import TrustAnchor
from tldsec.keys.service import KeyManager
from tldsec.keys.state import DsState, KeyEvent, Role
from tldsec.keys.timing import TimingParams
from tldsec.policy import load_policy

pytestmark = pytest.mark.skipif(not nsd_available(), reason="needs NSD (Debian package nsd)")

T0 = datetime.now(UTC).replace(microsecond=0)
ORIGIN = "example."


class Forger:
    """A plain UDP server on 127.0.0.1 answering DS and DNSKEY queries with whatever the
    test puts in it, unsigned: what an on-path attacker or a lying cache would send."""

    def __init__(self, aa: bool) -> None:
        self.aa = aa
        self.ds: list[str] = []
        self.dnskey: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.server = ParentServer("127.0.0.1", self.sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            if self.aa:
                response.flags |= dns.flags.AA
            q = query.question[0]
            data = {dns.rdatatype.DS: self.ds, dns.rdatatype.DNSKEY: self.dnskey}.get(q.rdtype)
            if data:
                rdtype = dns.rdatatype.to_text(q.rdtype)
                response.answer.append(dns.rrset.from_text_list(q.name, 86400, "IN", rdtype, data))
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def roots(tmp_path: Path) -> Iterator[list[SignedRoot]]:
    """Two servers of one signed root zone (one key), serving no DS for the child yet."""
    first = SignedRoot(tmp_path / "root-a", ORIGIN, T0)
    second = SignedRoot(tmp_path / "root-b", ORIGIN, T0, key=first.key)
    for r in (first, second):
        r.publish([])
    yield [first, second]
    for r in (first, second):
        r.stop()


@pytest.fixture
def anchor(roots: list[SignedRoot]) -> TrustAnchor:
    return TrustAnchor.from_text(roots[0].anchor_text, "test root")


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[KeyManager, FakeClock]]:
    engine = open_signer_db(f"sqlite:///{tmp_path / 'signer.db'}")
    clock = FakeClock(T0)
    # The parent check is tested here, not the backup gate (DPS 5.2.4; tested in
    # test_backup_before_use.py): the first KSK is active, and its DS submitted, at once.
    policy = dataclasses.replace(load_policy(), backup_before_use=False)
    yield KeyManager(engine, MemoryKeyStore(), policy, clock, origin=ORIGIN), clock
    engine.dispose()


def test_ds_seen_only_when_every_parent_server_serves_it_validated(
    roots: list[SignedRoot], anchor: TrustAnchor, manager: tuple[KeyManager, FakeClock]
) -> None:
    km, clock = manager
    (ksk,) = [k for k in km.bootstrap("init") if k.role is Role.KSK]
    check, made = km.check_parent([r.server for r in roots], anchor, timeout=2)
    # Both answer with a signed denial: no DS yet, proven.
    assert made == [] and check.complete
    assert all(a.ds == frozenset() for a in check.answers)
    roots[0].publish(ds_lines(km.export_ds()))
    _, made = km.check_parent([r.server for r in roots], anchor, timeout=2)
    assert made == []  # one server is not enough
    roots[1].publish(ds_lines(km.export_ds(digest_types=(2, 4))))
    clock.advance(timedelta(hours=30))
    check, made = km.check_parent([r.server for r in roots], anchor, timeout=2)
    assert [(t.event, t.key_id) for t in made] == [(KeyEvent.DS_SEEN, ksk.key_id)]
    assert "parent check: DS served by all of 127.0.0.1:" in made[0].reason
    assert check.ds_ttl == 86400
    assert (
        next(k for k in km.key_records() if k.key_id == ksk.key_id).ds_state_at(clock.now())
        is DsState.SEEN
    )


@pytest.mark.parametrize("aa", [False, True], ids=["non-authoritative", "authoritative"])
def test_a_forged_unsigned_answer_opens_no_gate(
    aa: bool, anchor: TrustAnchor, manager: tuple[KeyManager, FakeClock]
) -> None:
    km, clock = manager
    km.bootstrap("init")
    forgers = [Forger(aa), Forger(aa)]
    try:
        for f in forgers:
            f.ds = ds_lines(km.export_ds())
            f.dnskey = [anchor.dnskeys[0].to_text()]
        clock.advance(timedelta(hours=30))
        check, made = km.check_parent([f.server for f in forgers], anchor, timeout=2)
    finally:
        for f in forgers:
            f.close()
    assert made == [] and not check.complete
    expected = "is not signed" if aa else "not authoritative"
    assert all(a.error and expected in a.error for a in check.answers), check.answers


@pytest.mark.parametrize(
    ("with_anchor_key", "refusal"),
    [(False, "matches the trust anchor"), (True, "no valid signature")],
    ids=["own-keys", "anchor-key-copied-into-the-set"],
)
def test_an_answer_signed_by_a_key_the_anchor_does_not_name_opens_no_gate(
    with_anchor_key: bool,
    refusal: str,
    roots: list[SignedRoot],
    anchor: TrustAnchor,
    manager: tuple[KeyManager, FakeClock],
) -> None:
    km, clock = manager
    km.bootstrap("init")
    attacker = ec.generate_private_key(ec.SECP256R1())
    extra = (roots[0].anchor_text,) if with_anchor_key else ()
    for r in roots:
        r.serve_text(r.signed_text(ds_lines(km.export_ds()), key=attacker, extra=extra))
    clock.advance(timedelta(hours=30))
    check, made = km.check_parent([r.server for r in roots], anchor, timeout=2)
    assert made == [] and not check.complete
    assert all(refusal in (a.error or "") for a in check.answers), check.answers


def test_a_stripped_ds_without_a_signed_denial_proves_nothing(
    anchor: TrustAnchor, roots: list[SignedRoot], manager: tuple[KeyManager, FakeClock]
) -> None:
    """An attacker who removes our DS from an answer cannot make it look withdrawn."""
    km, _ = manager
    km.bootstrap("init")
    forger = Forger(aa=True)
    try:
        forger.dnskey = [anchor.dnskeys[0].to_text()]  # no DS, and no NSEC either
        check = gates.check_parent(ORIGIN, [forger.server], anchor, T0.timestamp(), timeout=2)
    finally:
        forger.close()
    assert not check.complete
    assert check.answers[0].ds is None


def test_a_ds_with_our_key_tag_but_a_wrong_digest_is_named(
    roots: list[SignedRoot], anchor: TrustAnchor, manager: tuple[KeyManager, FakeClock]
) -> None:
    km, clock = manager
    km.bootstrap("init")
    (ds,) = km.export_ds()
    wrong = dataclasses.replace(ds, digest=bytes(32))
    for r in roots:
        r.publish(ds_lines([wrong]))
    clock.advance(timedelta(hours=30))
    check, made = km.check_parent([r.server for r in roots], anchor, timeout=2)
    assert made == [] and check.complete
    (first, second) = check.mismatches(km.key_records())
    assert f"DS {ds.key_tag} {ds.algorithm} 2 {'00' * 32}" in first
    assert f"has the key tag and algorithm of KSK {ds.key_id} but not its digest" in first
    assert ds.digest.hex().upper() in first and second.startswith(str(roots[1].server))


def test_a_parent_ds_ttl_longer_than_the_timing_assumes_opens_no_gate(
    roots: list[SignedRoot], anchor: TrustAnchor, tmp_path: Path
) -> None:
    """RFC 7583 3.3.2: the old DS may leave only after the parent's DS TTL; a wait computed
    with a shorter TTL would end too soon, so the gate stays shut until the setting is fixed."""
    engine = open_signer_db(f"sqlite:///{tmp_path / 'ttl.db'}")
    clock = FakeClock(T0)
    policy = dataclasses.replace(load_policy(), backup_before_use=False)
    timing = TimingParams.from_policy(policy, parent_ds_ttl=timedelta(hours=1))
    km = KeyManager(engine, MemoryKeyStore(), policy, clock, origin=ORIGIN, timing=timing)
    try:
        km.bootstrap("init")
        for r in roots:
            r.publish(ds_lines(km.export_ds()), ds_ttl=172800)
        clock.advance(timedelta(hours=30))
        check, made = km.check_parent([r.server for r in roots], anchor, timeout=2)
        assert made == [] and check.complete and check.ds_ttl == 172800
        problem = km.parent_ttl_problem(check)
        assert problem is not None and "parent_ds_ttl_seconds = 172800" in problem
    finally:
        engine.dispose()


def test_trust_anchor_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.key"):
        TrustAnchor.from_file(tmp_path / "missing.key")
    bad = tmp_path / "two.key"
    bad.write_text(". IN DS 1 8 2 " + "00" * 32 + "\nexample. IN DS 1 8 2 " + "00" * 32 + "\n")
    with pytest.raises(ConfigError, match="one zone"):
        TrustAnchor.from_file(bad)
    empty = tmp_path / "empty.key"
    empty.write_text(". 3600 IN A 192.0.2.1\n")
    with pytest.raises(ConfigError, match="no DS or DNSKEY"):
        TrustAnchor.from_file(empty)


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


def test_check_parent_from_the_cli_with_configured_servers_and_anchor(
    roots: list[SignedRoot], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", ORIGIN, "--keystore", "file"]) == 0
    (home / "parent.key").write_text(roots[0].anchor_text + "\n")
    servers = ", ".join(f'"{r.server}"' for r in roots)
    with (home / "tldsec.toml").open("a") as f:
        f.write(f'\n[keys]\nparent_servers = [{servers}]\nparent_trust_anchor = "parent.key"\n')
    capsys.readouterr()
    assert main(["keys", "export-ds", "--home", str(home), "--json"]) == 0
    ds = json.loads(capsys.readouterr().out)
    record_lines = [f"{d['key_tag']} {d['algorithm']} {d['digest_type']} {d['digest']}" for d in ds]
    # The CLI runs on the real clock: re-sign around now.
    for r in roots:
        r.now = datetime.now(UTC)
        r.publish(record_lines)
    servers_now = ", ".join(f'"{r.server}"' for r in roots)
    text = (home / "tldsec.toml").read_text().replace(servers, servers_now)
    (home / "tldsec.toml").write_text(text)
    assert main(["keys", "check-parent", "--home", str(home), "--timeout", "2"]) == 0
    out = capsys.readouterr().out
    assert f"validated, DS key tags {ds[0]['key_tag']} (TTL 86400 s)" in out
    assert "ds.seen" in out


def test_check_parent_from_the_cli_refuses_a_missing_anchor(
    roots: list[SignedRoot], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", ORIGIN, "--keystore", "file"]) == 0
    capsys.readouterr()
    code = main(
        [
            "keys",
            "check-parent",
            "--home",
            str(home),
            "--server",
            str(roots[0].server),
            "--trust-anchor",
            str(tmp_path / "nowhere.key"),
        ]
    )
    assert code == 2 or code == 1
    assert "nowhere.key" in capsys.readouterr().err


def test_going_insecure_ds_gone_only_on_a_validated_denial_from_every_server(
    roots: list[SignedRoot], anchor: TrustAnchor, manager: tuple[KeyManager, FakeClock]
) -> None:
    """DPS 4.6 (keys/go_insecure.py): the stop of signing waits for the DS to be gone,
    and only a signed denial from every parent server says it is; a forged empty answer
    would let the zone go unsigned while validators still hold its DS."""
    from tldsec.keys.planner import Action, Step
    from tldsec.keys.timing import ds_publish_interval

    km, clock = manager
    (ksk,) = [k for k in km.bootstrap("init") if k.role is Role.KSK]
    for r in roots:
        r.publish(ds_lines(km.export_ds()))
    clock.advance(timedelta(hours=30))
    _, made = km.check_parent([r.server for r in roots], anchor, timeout=2)
    assert [t.event for t in made] == [KeyEvent.DS_SEEN]
    km.go_insecure("wind down")
    assert km.export_ds() == []

    def unsign() -> Step:
        return next(s for s in km.plan().steps if s.action is Action.UNSIGN)

    # The parent still serves the DS (NSD restarts on a new port at each publish):
    # nothing opens.
    _, made = km.check_parent([r.server for r in roots], anchor, timeout=2)
    assert made == [] and unsign().waiting_for.name == "ds-gone"
    # An unsigned "no DS" (on-path forger, authoritative bit set) proves nothing.
    forger = Forger(aa=True)
    try:
        forger.dnskey = [anchor.dnskeys[0].to_text()]
        _, made = km.check_parent([forger.server], anchor, timeout=2)
    finally:
        forger.close()
    assert made == []
    # One server has dropped it: not yet.
    roots[0].publish([])
    _, made = km.check_parent([r.server for r in roots], anchor, timeout=2)
    assert made == []
    roots[1].publish([])
    clock.advance(timedelta(hours=1))
    check, made = km.check_parent([r.server for r in roots], anchor, timeout=2)
    assert [(t.event, t.key_id) for t in made] == [(KeyEvent.DS_WITHDRAWN, ksk.key_id)]
    assert "parent check: DS served by none of" in made[0].reason and check.complete
    step = unsign()
    assert step.due == clock.now() + ds_publish_interval(km.timing)
