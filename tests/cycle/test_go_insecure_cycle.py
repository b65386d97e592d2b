"""Going insecure end to end (DPS 4.6, decisions 43 and 46): a SoftHSM2 home's real
cycles on a fake clock, a signed test root served by NSD as the parent, its DS gates
opened only by the validated parent check, and at each step a real Unbound (trusting
the test root, ``val-override-date`` at the fake clock) resolving names of the zone the
cycle distributed: secure while the DS is at the parent, insecure -- never bogus --
once it is gone while the zone is still signed, and insecure again once the zone is
published unsigned. The last step's zone holds no DNSSEC record, the gate recorded it
as insecure by design, and going back afterwards names the fresh start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.distribute.homes import FAST_CYCLE, Registry, audit_events, ds_for, make_home
from tests.distribute.nameservers import NsdZone, nsd_available, start_nsd, start_unbound
from tests.integration.signed_parent import SignedRoot, ds_lines
from tldsec.clock import FakeClock, SystemClock, to_epoch
from tldsec.cycle import Cycle, Outcome, open_cycle
from tldsec.errors import KeyManagementError
from tldsec.keys import go_insecure
from tldsec.keys.parentproof import TrustAnchor
from tldsec.keys.planner import Action
from tldsec.keys.state import KeyState, Role
from tldsec.settings import load_settings

pytestmark = pytest.mark.skipif(not nsd_available(), reason="needs NSD (Debian package nsd)")

SECURE, INSECURE = "secure", "insecure"
DNSSEC_TYPES = re.compile(r"\t(DNSKEY|RRSIG|NSEC|NSEC3|NSEC3PARAM)\t")


@pytest.fixture
def p11_home(tmp_path: Path) -> Path:
    """A home with ten delegations, its keys in a SoftHSM2 token."""
    home = make_home(tmp_path / "p11", keystore="pkcs11", extra=FAST_CYCLE)
    registry = Registry(home)
    registry.seed(10)
    registry.close()
    return home


@pytest.fixture
def root(tmp_path: Path) -> Iterator[SignedRoot]:
    parent = SignedRoot(tmp_path / "root", "example.", SystemClock().now())
    parent.publish([])
    yield parent
    parent.stop()


def resolve(root: SignedRoot, zone_file: Path, cycle: Cycle, directory: Path) -> str:
    """How a validating resolver with no cache sees the zone now: ``secure`` (every answer
    AD), ``insecure`` (answers, none AD); anything else (SERVFAIL: bogus) fails."""
    now = cycle.clock.now()
    nsd = start_nsd(directory / "nsd", [NsdZone("example.", zonefile=zone_file)])
    unbound = None
    try:
        assert root.daemon is not None
        unbound = start_unbound(
            directory / "unbound",
            root.anchor_text,
            {".": root.daemon.port, "example.": nsd.port},
            extra=(f"val-override-date: {to_epoch(now)}",),
        )
        seen = set()
        for name, rdtype, rcode in (
            ("example.", "SOA", dns.rcode.NOERROR),
            ("dom0.example.", "DS", dns.rcode.NOERROR),
            ("nx.example.", "A", dns.rcode.NXDOMAIN),
        ):
            q = dns.message.make_query(name, rdtype, want_dnssec=True)
            q.flags |= dns.flags.RD | dns.flags.AD
            answer = dns.query.udp(q, "127.0.0.1", port=unbound.port, timeout=10)
            assert answer.rcode() == rcode, (
                f"{name} {rdtype}: {dns.rcode.to_text(answer.rcode())} (bogus?)\n"
                + answer.to_text()
                + unbound.log_text()[-3000:]
            )
            seen.add(SECURE if answer.flags & dns.flags.AD else INSECURE)
        assert len(seen) == 1, seen
        return seen.pop()
    finally:
        if unbound is not None:
            unbound.stop()
        nsd.stop()


def publish_parent(root: SignedRoot, cycle: Cycle) -> None:
    """The parent serves the DS set the key manager exports now (signed as of now)."""
    root.now = cycle.clock.now()
    ttl = int(cycle.keys.timing.parent_ds_ttl.total_seconds())
    root.publish(ds_lines(cycle.keys.export_ds()), ds_ttl=ttl)


def test_a_zone_goes_insecure_in_order_and_never_validates_as_bogus(
    p11_home: Path, root: SignedRoot, tmp_path: Path
) -> None:
    clock = FakeClock(SystemClock().now())
    anchor = TrustAnchor.from_text(root.anchor_text, "test root")
    phases: list[str] = []

    def check(cycle: Cycle, expected: str) -> None:
        serial = cycle.store.current()
        assert serial is not None
        got = resolve(root, cycle.store.zone_path(serial), cycle, tmp_path / f"v{len(phases)}")
        phases.append(got)
        assert got == expected, phases

    with open_cycle(load_settings(p11_home), clock) as cycle:
        assert cycle.run().outcome is Outcome.PUBLISHED
        km = cycle.keys
        publish_parent(root, cycle)
        clock.advance(timedelta(hours=1))
        _, made = km.check_parent([root.server], anchor, timeout=2)
        assert [t.role for t in made] == [Role.KSK]  # ds-seen, validated
        check(cycle, SECURE)

        # The start: every DS withdrawal requested; the parent still serves it.
        km.go_insecure("the TLD is handed back to IANA")
        assert km.export_ds() == []
        clock.advance(timedelta(hours=1))
        assert cycle.run(force=True).outcome is Outcome.PUBLISHED
        zone = cycle.store.zone_path(cycle.store.current() or 0).read_text()
        assert "\tDNSKEY\t" in zone
        check(cycle, SECURE)
        with pytest.raises(KeyManagementError, match="not confirmed gone"):
            go_insecure.unsign(km.key_records(), clock.now(), "forced")  # the gate is closed

        # The parent drops the DS; the validated check opens ds-gone. Still signed.
        publish_parent(root, cycle)
        clock.advance(timedelta(hours=1))
        _, made = km.check_parent([root.server], anchor, timeout=2)
        assert made and all(t.event.value == "ds.withdrawn" for t in made)
        unsign = next(s for s in km.plan().steps if s.action is Action.UNSIGN)
        assert unsign.waiting_for.name == "ds-expired" and unsign.due is not None
        assert cycle.pending() is None or cycle.run().outcome is not Outcome.FAILED
        check(cycle, INSECURE)

        # One second before every cached DS may have expired: nothing happens.
        clock.set(unsign.due - timedelta(seconds=1))
        assert cycle.pending() is None
        assert km.unsigned_since() is None
        # The last step: the cycle runs it and publishes the zone unsigned.
        clock.set(unsign.due)
        pending = cycle.pending()
        assert pending is not None and pending.kind == "keys"
        result = cycle.run()
        assert result.outcome is Outcome.PUBLISHED, result
        assert km.unsigned_since() == unsign.due
        assert all(k.state_at(clock.now()) is KeyState.REMOVED for k in km.key_records())
        serial = cycle.store.current()
        assert serial is not None and serial == result.serial
        zone = cycle.store.zone_path(serial).read_text()
        assert not DNSSEC_TYPES.search(zone), zone[:2000]
        assert "\tDS\t" in zone  # the children's DS stay
        report = json.loads((cycle.paths.reports / f"{serial}.json").read_text())
        assert report["meta"]["security"] == "insecure-by-design"
        check(cycle, INSECURE)

        # Unsigned, the cycle has nothing to refresh; a registry change is published
        # unsigned with a higher serial and checked against the registry as before.
        clock.advance(timedelta(days=30))
        assert cycle.pending() is None
        registry = Registry(p11_home)
        registry.attach()
        try:
            registry.add_ds("dom1.example", ds_for(101))
        finally:
            registry.close()
        clock.advance(timedelta(minutes=5))
        again = cycle.run()
        assert again.outcome is Outcome.PUBLISHED and again.serial is not None
        assert again.serial > serial
        zone = cycle.store.zone_path(again.serial).read_text()
        assert not DNSSEC_TYPES.search(zone)
        check(cycle, INSECURE)

        # Going back is a fresh start, not a cancel.
        with pytest.raises(KeyManagementError, match="fresh start"):
            km.cancel_go_insecure("we changed our minds")
    assert phases == [SECURE, SECURE, INSECURE, INSECURE, INSECURE]
    events = audit_events(p11_home)
    assert "key.zone_unsigned" in events
    assert events.index("key.go_insecure_requested") < events.index("key.zone_unsigned")
