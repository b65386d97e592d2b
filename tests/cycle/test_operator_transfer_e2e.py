"""Operator transfer end to end (DPS 4.6, keys/transfer.py), validated at every step.

We are a home whose keys are in a SoftHSM2 token, signing through real cycles on a fake
clock. The gaining operator is made of real tools: its KSK and ZSK from ldns-keygen, its
copy of the same unsigned zone signed by ldns-signzone with a DNSKEY RRset that holds our
ZSKs (RFC 8901 model 2). Each operator's copy is served by its own NSD; the parent is a
signed test root (NSD) whose DS set for example. the test publishes as the parent would,
and the validated parent check reads it. At each step a real Unbound, trusting only the
root, resolves through one provider at a time (a fresh resolver for each, at the fake
clock's time): before the transfer, during the overlap, after the handover, after the DS
swap. During the overlap dnspython also validates each provider's signatures with the
other's DNSKEY RRset, as a resolver that mixes them would.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import pytest

from tests.distribute.homes import FAST_CYCLE, Registry, make_home
from tests.distribute.nameservers import Daemon, NsdZone, nsd_available, start_nsd, start_unbound
from tests.integration.signed_parent import SignedRoot, ds_lines
from tldsec.cli.status import status
from tldsec.cli.status import text as status_text
from tldsec.clock import FakeClock, SystemClock, to_epoch
from tldsec.cycle import Outcome, open_cycle
from tldsec.errors import TransferRefused
from tldsec.keys import transfer
from tldsec.keys.gates import ParentServer
from tldsec.keys.parentproof import TrustAnchor
from tldsec.keys.state import KeyState, Role
from tldsec.keys.transfer_service import TransferManager
from tldsec.settings import load_settings

pytestmark = pytest.mark.skipif(
    not (nsd_available() and shutil.which("ldns-signzone") and shutil.which("unbound")),
    reason="needs NSD, Unbound and ldns tools",
)
ORIGIN = "example."


class Gaining:
    """The gaining operator: ldns-keygen keys, ldns-signzone, its own NSD."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True)
        self.ksk = self._keygen("-k", "-b", "2048")
        self.zsk = self._keygen("-b", "1024")

    def _keygen(self, *args: str) -> str:
        out = subprocess.run(
            ["ldns-keygen", "-a", "RSASHA256", *args, ORIGIN],
            cwd=self.dir,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def dnskey_text(self) -> str:
        return "".join((self.dir / f"{k}.key").read_text() for k in (self.ksk, self.zsk))

    def sign(self, unsigned: Path, ours: list[str], start: datetime) -> Path:
        """Our unsigned zone plus our ZSKs' DNSKEYs, signed with its KSK and ZSK (NSEC3
        with the policy's parameters: no salt, no extra iteration, RFC 9276)."""
        zone = self.dir / "zone"
        zone.write_text(unsigned.read_text() + "".join(line + "\n" for line in ours))
        fmt = "%Y%m%d%H%M%S"
        subprocess.run(
            [
                "ldns-signzone",
                "-n",
                "-t",
                "0",
                "-i",
                (start - timedelta(days=1)).strftime(fmt),
                "-e",
                (start + timedelta(days=30)).strftime(fmt),
                "-o",
                ORIGIN,
                "-f",
                str(self.dir / "zone.signed"),
                str(zone),
                self.ksk,
                self.zsk,
            ],
            cwd=self.dir,
            check=True,
            capture_output=True,
        )
        return self.dir / "zone.signed"


@pytest.fixture
def our_home(tmp_path: Path) -> Path:
    home = make_home(tmp_path / "ours", keystore="pkcs11", extra=FAST_CYCLE)
    registry = Registry(home)
    registry.seed(10)
    registry.close()
    config = home / "tldsec.toml"
    config.write_text(
        config.read_text().replace("external = []", 'external = ["ldns-verify-zone"]')
    )
    return home


@pytest.fixture
def root(tmp_path: Path) -> Iterator[SignedRoot]:
    r = SignedRoot(tmp_path / "root", ORIGIN, SystemClock().now())
    yield r
    r.stop()


def resolve(root: SignedRoot, provider_port: int, now: datetime, where: Path) -> list[str]:
    """Problems a fresh Unbound finds asking one provider: [] when every answer is
    validated (AD) with the expected rcode."""
    assert root.daemon is not None
    unbound = start_unbound(
        where,
        root.anchor_text,
        {".": root.daemon.port, ORIGIN: provider_port},
        extra=(f"val-override-date: {to_epoch(now)}",),
    )
    problems = []
    try:
        for name, rtype, rcode in (
            ("dom0.example.", "DS", dns.rcode.NOERROR),
            ("example.", "SOA", dns.rcode.NOERROR),
            ("nx.example.", "A", dns.rcode.NXDOMAIN),
        ):
            q = dns.message.make_query(name, rtype, want_dnssec=True)
            q.flags |= dns.flags.RD | dns.flags.AD
            answer = dns.query.udp(q, "127.0.0.1", port=unbound.port, timeout=10)
            if answer.rcode() != rcode or not answer.flags & dns.flags.AD:
                problems.append(f"{name} {rtype}: {dns.rcode.to_text(answer.rcode())}")
        if problems:
            problems.append(unbound.log_text()[-2000:])
    finally:
        unbound.stop()
    return problems


def fetch(port: int, name: str, rtype: str) -> tuple[dns.rrset.RRset, dns.rrset.RRset]:
    q = dns.message.make_query(name, rtype, want_dnssec=True)
    answer = dns.query.tcp(q, "127.0.0.1", port=port, timeout=5)
    rdtype = dns.rdatatype.from_text(rtype)
    data = answer.find_rrset(answer.answer, dns.name.from_text(name), dns.rdataclass.IN, rdtype)
    sig = answer.find_rrset(
        answer.answer, dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.RRSIG, rdtype
    )
    return data, sig


def mixed_validates(dnskey_port: int, data_port: int, now: datetime) -> None:
    """The DNSKEY RRset of one provider validates the signed data of the other."""
    dnskey, dnskey_sig = fetch(dnskey_port, ORIGIN, "DNSKEY")
    keys: dict[dns.name.Name, dns.node.Node | dns.rdataset.Rdataset] = {
        dns.name.from_text(ORIGIN): dnskey
    }
    dns.dnssec.validate(dnskey, dnskey_sig, keys, now=to_epoch(now))
    for name, rtype in ((ORIGIN, "SOA"), ("dom0.example.", "DS")):
        data, sig = fetch(data_port, name, rtype)
        dns.dnssec.validate(data, sig, keys, now=to_epoch(now))


def test_operator_transfer_end_to_end(our_home: Path, root: SignedRoot, tmp_path: Path) -> None:
    clock = FakeClock(root.now)
    gaining = Gaining(tmp_path / "gaining")
    phase = iter(range(1, 100))
    daemons: list[Daemon] = []

    def serve(path: Path, name: str) -> int:
        d = start_nsd(tmp_path / f"nsd-{name}-{next(phase)}", [NsdZone(ORIGIN, zonefile=path)])
        daemons.append(d)
        return d.port

    try:
        with open_cycle(load_settings(our_home), clock) as cycle:
            km = cycle.keys
            tm = TransferManager(km)
            assert cycle.run().outcome is Outcome.PUBLISHED
            ksk = next(k for k in km.key_records() if k.role is Role.KSK)
            root.publish(ds_lines(km.export_ds()))
            anchor = TrustAnchor.from_text(root.anchor_text, "test root")

            def parent() -> list[ParentServer]:  # NSD restarts on a new port at each publish
                return [root.server]

            km.check_parent(parent(), anchor, timeout=3)  # our DS seen, validated
            assert km.export_ds()[0].ds_state == "seen"

            def our_zone() -> Path:
                serial = cycle.store.current()
                assert serial is not None
                return cycle.store.zone_path(serial)

            # 1. before: one operator, one DS
            ours_port = serve(our_zone(), "ours")
            assert resolve(root, ours_port, clock.now(), tmp_path / "u-before") == []

            # 2. the overlap: their keys in our DNSKEY RRset, ours in theirs, both DS
            with pytest.raises(TransferRefused, match="no transfer under way"):
                tm.handover(parent(), anchor, "too soon", timeout=3)
            tm.import_dnskeys(gaining.dnskey_text(), "gaining", "the TLD moves")
            clock.advance(timedelta(minutes=10))
            result = cycle.run()
            assert result.outcome is Outcome.PUBLISHED, result
            text = our_zone().read_text()
            for k in (gaining.ksk, gaining.zsk):
                assert f"{int(k.rsplit('+', 1)[1])}" in {
                    str(f.key_tag) for f in (tm.current() or pytest.fail()).keys
                }
            assert text.count("\tDNSKEY\t") == 2 + len(
                [k for k in km.key_records() if k.publishes_at(clock.now())]
            )
            export = tm.export()
            our_zsks = [line for line in export.dnskey_lines if " DNSKEY 256 " in line]
            assert our_zsks
            unsigned = cycle.paths.work / "unsigned.zone"
            theirs_port = serve(gaining.sign(unsigned, our_zsks, root.now), "theirs")
            ours_port = serve(our_zone(), "ours")  # the copy with their keys
            # The handover waits for their DS at the parent, validated.
            with pytest.raises(TransferRefused, match="not seen at the parent"):
                tm.handover(parent(), anchor, "too soon", timeout=3)
            _, served = tm.check_parent(parent(), anchor, timeout=3)
            assert not served
            root.publish(ds_lines(km.export_ds()) + ds_lines(tm.peer_ds()))
            _, served = tm.check_parent(parent(), anchor, timeout=3)
            assert served
            with pytest.raises(TransferRefused, match="too early"):
                tm.handover(parent(), anchor, "too soon", timeout=3)
            for port, name in ((ours_port, "ours"), (theirs_port, "theirs")):
                assert resolve(root, port, clock.now(), tmp_path / f"u-overlap-{name}") == []
            mixed_validates(ours_port, theirs_port, clock.now())
            mixed_validates(theirs_port, ours_port, clock.now())

            # 3. the handover, once every cache knows their DS and ZSK (computed waits)
            tr = tm.current()
            assert tr is not None
            due = transfer.handover_due(tr, km.timing)
            assert due is not None
            clock.set(due)
            result = cycle.run()
            assert result.ok, result
            tm.handover(parent(), anchor, "the contract says today")
            with pytest.raises(TransferRefused, match="point of no return"):
                tm.cancel("second thoughts")
            # Both copies still validate: resolvers that cached our delegation still ask us.
            ours_port = serve(our_zone(), "ours")
            for port, name in ((ours_port, "ours"), (theirs_port, "theirs")):
                assert resolve(root, port, clock.now(), tmp_path / f"u-handover-{name}") == []

            # 4. the DS swap: once no resolver asks us, our DS leaves the parent.
            clock.set(due + transfer.ns_interval(km.timing))
            pending = cycle.pending()
            assert pending is not None and "withdrawal of our DS" in pending.reason
            result = cycle.run()
            assert result.ok, result
            assert km.export_ds() == []  # the parent should hold only theirs now
            root.publish(ds_lines(tm.peer_ds()))
            assert resolve(root, theirs_port, clock.now(), tmp_path / "u-swap-theirs") == []
            # Our copy, were it still asked, is signed by a KSK without a DS: the validator
            # rejects it. That is why the delegation moved first.
            ours_port = serve(our_zone(), "ours")
            assert resolve(root, ours_port, clock.now(), tmp_path / "u-swap-ours") != []
            _, made = km.check_parent(parent(), anchor, timeout=3)
            assert [(t.key_tag, t.event.value) for t in made] == [(ksk.key_tag, "ds.withdrawn")]

            # 5. the end: the cycle retires every key of ours and succeeds; it signs no
            # more, and later cycles have nothing to do (a state, not a failure)
            clock.advance(timedelta(minutes=10))
            last = our_zone()
            result = cycle.run()
            assert result.ok and "our role ended" in result.reason, result
            assert any("key.retired" in t for t in result.transitions)
            assert any("key.removed" in t for t in result.transitions)
            assert all(k.state_at(clock.now()) is KeyState.REMOVED for k in km.key_records())
            assert our_zone() == last  # nothing new distributed
            clock.advance(timedelta(days=1))
            assert cycle.pending() is None
            result = cycle.run(force=True)
            assert result.ok and result.reason.startswith("nothing to do: handed over to gaining")
            with pytest.raises(TransferRefused, match="signs it no more"):
                km.signing_config()
            steps = {s.name: s for s in tm.status()}
            assert all(steps[n].done is not None for n in ("handover", "our-ds-gone", "end"))
            assert resolve(root, theirs_port, clock.now(), tmp_path / "u-end-theirs") == []
            report = status(load_settings(our_home), clock)  # still readable after the end
            assert report["transfer"]["ended"] is not None and report["pending"] is None
            assert "HANDED OVER" in status_text(report)
    finally:
        for d in daemons:
            d.stop()
