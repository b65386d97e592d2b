"""An algorithm rollover 8 -> 13 through real zone cycles (RFC 6781 4.1.4).

A seeded home (its keys in SoftHSM2, or in files; a policy not named dps) runs its
cycle on a fake clock:
the first zone with RSA/SHA-256 keys, then the policy says 13 and 'keys
algorithm-rollover' starts; the clock leaps from one wake-up of the planner to the next
(the parent's ds-seen and ds-gone confirmed as the parent check would), and every
zone the cycle makes must pass the gate (our checks, dnspython's second
implementation, ldns-verify-zone) and be distributed: presigned, both
algorithms published, DS swapped, old DNSKEYs gone, old signatures gone. In each phase
a real Unbound validates the distributed zone (served by NSD) from a test root whose
DS set for example. is the one the key manager exports then, at the fake clock's time
(``val-override-date``). Caches across phases are the resolver model's part
(tests/keys/test_algorithm_rollover.py).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.distribute.homes import FAST_CYCLE, Registry, make_home, seeded_home_fixtures
from tests.distribute.nameservers import NsdZone, start_nsd, start_unbound
from tldsec.clock import FakeClock, SystemClock, to_epoch
from tldsec.cycle import Cycle, Outcome, open_cycle
from tldsec.dnscore.zonefile import read_zone_text, write_zone_atomic
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.keys.planner import Action
from tldsec.keys.service import KeyManager
from tldsec.keys.state import KeyState
from tldsec.policy import Algorithm, load_policy
from tldsec.settings import load_settings
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.signer import sign_zone

template, home, registry = seeded_home_fixtures(10)


def rsa_to_p256(policy_file: Path) -> None:
    text = policy_file.read_text()
    text = re.sub(r"(?m)^algorithm = 8\b.*$", "algorithm = 13", text)
    text = re.sub(r"(?m)^bits = \d+.*$", "bits = 256", text)
    policy_file.write_text(text)


def opened(home: Path, clock: FakeClock) -> Iterator[Cycle]:
    with open_cycle(load_settings(home), clock) as cycle:
        yield cycle


def validate_with_unbound(
    keys: KeyManager, zone_file: Path, now: datetime, directory: Path
) -> None:
    """Unbound, trusting a test root whose DS set for example. is what ``keys`` exports
    at ``now``, resolves a DS of the zone with AD set, and a missing name as NXDOMAIN."""
    store = MemoryKeyStore()
    ksk = store.generate_key(label="root-ksk", algorithm=Algorithm.RSASHA256, bits=2048)
    zsk = store.generate_key(label="root-zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    root_keys = (
        ZoneKey(ksk.key_id, 257, ksk.algorithm, ksk.public_key, True, True, False),
        ZoneKey(zsk.key_id, 256, zsk.algorithm, zsk.public_key, True, False, True),
    )
    ds = [d.zone_line() for d in keys.export_ds(now=now)]
    text = "\n".join(
        [
            ". 86400 IN SOA ns.root-test. hostmaster.root-test. 1 1800 900 604800 3600",
            ". 86400 IN NS ns.root-test.",
            "ns.root-test. 86400 IN A 127.0.0.1",
            "example. 86400 IN NS a.nic.example.",
            "a.nic.example. 86400 IN A 127.0.0.1",
            *ds,
        ]
    )
    config = SigningConfig.from_policy(load_policy(), root_keys)
    root = sign_zone(read_zone_text(text + "\n", "."), config, store, now).zone
    directory.mkdir(parents=True)
    write_zone_atomic(root, directory / "root.zone")
    anchor = f". IN DNSKEY 257 3 8 {base64.b64encode(ksk.public_key).decode()}"
    nsd = start_nsd(
        directory / "nsd",
        [NsdZone(".", zonefile=directory / "root.zone"), NsdZone("example.", zonefile=zone_file)],
    )
    unbound = None
    try:
        unbound = start_unbound(
            directory / "unbound",
            anchor,
            {".": nsd.port, "example.": nsd.port},
            extra=(f"val-override-date: {to_epoch(now)}",),
        )
        for name, rcode in (
            ("dom0.example.", dns.rcode.NOERROR),
            ("nx.example.", dns.rcode.NXDOMAIN),
        ):
            q = dns.message.make_query(name, "DS", want_dnssec=True)
            q.flags |= dns.flags.RD | dns.flags.AD
            answer = dns.query.udp(q, "127.0.0.1", port=unbound.port, timeout=10)
            assert answer.rcode() == rcode and answer.flags & dns.flags.AD, (
                answer.to_text() + unbound.log_text()[-3000:]
            )
    finally:
        if unbound is not None:
            unbound.stop()
        nsd.stop()


def algorithms_in(zone: str) -> tuple[set[int], set[int]]:
    """(algorithms of the DNSKEY RRset, algorithms of the RRSIGs over the SOA)."""
    dnskey = {int(m) for m in re.findall(r"\tDNSKEY\t25[67] 3 (\d+) ", zone)}
    soa = {int(m) for m in re.findall(r"\tRRSIG\tSOA (\d+) ", zone)}
    return dnskey, soa


@pytest.fixture(params=["softhsm2", "file"])
def rolling_home(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A home with ten delegations: keys in a SoftHSM2 token, or the seeded file home."""
    if request.param == "file":
        path: Path = request.getfixturevalue("home")
    else:
        path = make_home(tmp_path / "p11", keystore="pkcs11", extra=FAST_CYCLE)
        registry = Registry(path)
        registry.seed(10)
        registry.close()
    config = path / "tldsec.toml"
    config.write_text(
        config.read_text().replace("external = []", 'external = ["ldns-verify-zone"]')
    )
    return path


def test_a_zone_rolls_from_8_to_13_through_its_cycles(rolling_home: Path, tmp_path: Path) -> None:
    home = rolling_home
    clock = FakeClock(SystemClock().now())
    with open_cycle(load_settings(home), clock) as cycle:
        first = cycle.run()
        assert first.outcome is Outcome.PUBLISHED
        ksk = next(k for k in cycle.keys.key_records() if k.role == "ksk")
        cycle.keys.ds_seen(str(ksk.key_tag), "parent check (test)")
        policy_file = Path(cycle.settings.policy.source)
    assert cycle.settings.policy.name != "dps"
    rsa_to_p256(policy_file)
    clock.advance(timedelta(minutes=5))
    seen: list[tuple[frozenset[int], frozenset[int]]] = []
    with open_cycle(load_settings(home), clock) as cycle:
        assert cycle.verify.external == ("ldns-verify-zone",)
        cycle.keys.algorithm_rollover(13, "RFC 8624 recommends ECDSAP256SHA256")
        for _ in range(80):
            if cycle.pending() is not None:
                result = cycle.run()
                assert result.ok, result
                assert result.outcome in (Outcome.PUBLISHED, Outcome.UNCHANGED)
                serial = cycle.store.current()
                assert serial is not None
                zone_file = cycle.store.zone_path(serial)
                dnskey, soa = algorithms_in(zone_file.read_text())
                if not seen or seen[-1] != (frozenset(dnskey), frozenset(soa)):
                    seen.append((frozenset(dnskey), frozenset(soa)))
                    where = tmp_path / f"phase-{len(seen)}"
                    validate_with_unbound(cycle.keys, zone_file, clock.now(), where)
            plan = cycle.keys.plan()
            for step in plan.gates:  # what the validated parent check would confirm
                if step.action is Action.CONFIRM_DS_SEEN:
                    cycle.keys.ds_seen(str(step.key_tag), "parent check (test)")
                elif step.action is Action.CONFIRM_DS_WITHDRAWN:
                    cycle.keys.ds_gone(str(step.key_tag), "parent check (test)")
            live = [
                k for k in cycle.keys.key_records() if k.state_at(clock.now()) != KeyState.REMOVED
            ]
            if {int(k.algorithm) for k in live} == {13} and cycle.pending() is None:
                break
            wake = cycle.keys.plan().next_wakeup()
            step_to = clock.now() + timedelta(hours=6)
            if wake is not None and wake > clock.now():
                step_to = min(step_to, wake)
            clock.set(step_to)
        else:
            pytest.fail(f"the rollover did not finish; phases seen: {seen}")
    e, r = frozenset({8}), frozenset({8, 13})
    b, n = frozenset({8, 13}), frozenset({13})
    # DNSKEY algorithms, SOA signature algorithms: the conservative order, each phase seen.
    assert seen == [(e, r), (b, r), (n, r), (n, n)], seen
