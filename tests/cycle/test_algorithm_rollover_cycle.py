"""An algorithm rollover 8 -> 13 through real zone cycles (RFC 6781 4.1.4).

A seeded home (file key store, a policy not named dps) runs its cycle on a fake clock:
the first zone with RSA/SHA-256 keys, then the policy says 13 and 'keys
algorithm-rollover' starts; the clock leaps from one wake-up of the planner to the next
(the parent's ds-seen and ds-gone confirmed as the parent check would), and every
zone the cycle makes must pass the gate (our checks, dnspython's second
implementation, the external validators) and be distributed: presigned, both
algorithms published, DS swapped, old DNSKEYs gone, old signatures gone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.distribute.homes import seeded_home_fixtures
from tldsec.clock import FakeClock, SystemClock
from tldsec.cycle import Cycle, Outcome, open_cycle
from tldsec.keys.planner import Action
from tldsec.keys.state import KeyState
from tldsec.settings import load_settings

template, home, registry = seeded_home_fixtures(10)


def rsa_to_p256(policy_file: Path) -> None:
    text = policy_file.read_text()
    text = re.sub(r"(?m)^algorithm = 8\b.*$", "algorithm = 13", text)
    text = re.sub(r"(?m)^bits = \d+.*$", "bits = 256", text)
    policy_file.write_text(text)


def opened(home: Path, clock: FakeClock) -> Iterator[Cycle]:
    with open_cycle(load_settings(home), clock) as cycle:
        yield cycle


def algorithms_in(zone: str) -> tuple[set[int], set[int]]:
    """(algorithms of the DNSKEY RRset, algorithms of the RRSIGs over the SOA)."""
    dnskey = {int(m) for m in re.findall(r"\tDNSKEY\t25[67] 3 (\d+) ", zone)}
    soa = {int(m) for m in re.findall(r"\tRRSIG\tSOA (\d+) ", zone)}
    return dnskey, soa


def test_a_zone_rolls_from_8_to_13_through_its_cycles(home: Path) -> None:
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
        cycle.keys.algorithm_rollover(13, "RFC 8624 recommends ECDSAP256SHA256")
        for _ in range(80):
            if cycle.pending() is not None:
                result = cycle.run()
                assert result.ok, result
                assert result.outcome in (Outcome.PUBLISHED, Outcome.UNCHANGED)
                serial = cycle.store.current()
                assert serial is not None
                dnskey, soa = algorithms_in(cycle.store.zone_path(serial).read_text())
                if not seen or seen[-1] != (frozenset(dnskey), frozenset(soa)):
                    seen.append((frozenset(dnskey), frozenset(soa)))
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
