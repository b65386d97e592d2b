"""The algorithm rollover 8 -> 13 (RFC 6781 4.1.4) leaves no instant at which a validating
resolver could fail: permissive validators (RFC 6840 5.11: one algorithm of the DS set
that validates) and the strict ones the conservative method is for (every algorithm of
the DS set, every algorithm of the DNSKEY RRset on every RRset).

The production planner runs in simulation (``keys/simulate.py``) with keys of both
algorithms in a memory key store; at every event, hourly through the 26 hours after
each and daily, a zone is signed with the real signer and checked by the resolver
model (tests/keys/resolver_model.py), by key tags and by dnspython's cryptography. The
same harness with a schedule that believes every TTL is zero must find the gap.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.keys.resolver_model import Failure, ParentHistory, Resolvers, ZoneHistory, ds_tuple
from tldsec.dnscore.names import to_wire
from tldsec.dnscore.zone import Zone
from tldsec.dnscore.zonefile import read_zone_text
from tldsec.errors import KeyManagementError, PolicyError
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.keys import algorithm_rollover, rollover
from tldsec.keys.plan import signing_config, zone_keys
from tldsec.keys.planner import Action, plan
from tldsec.keys.service import keystore_factory
from tldsec.keys.simulate import ParentModel, SimResult, policy_for_algorithm, simulate
from tldsec.keys.state import KeyEvent, KeyState
from tldsec.keys.timing import TimingParams
from tldsec.policy import Algorithm, Policy, load_policy
from tldsec.signer import sign_zone

T0 = datetime(2025, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ORIGIN = "example."
ZONE = f"""$ORIGIN {ORIGIN}
$TTL 86400
@ SOA ns1 hostmaster 2025010101 7200 3600 1209600 3600
@ NS ns1
@ NS ns2.example.net.
ns1 A 192.0.2.1
www 3600 A 192.0.2.80
a NS ns.a
ns.a A 192.0.2.10
b NS ns.b.example.net.
b DS 12345 8 2 {"5E" * 32}
"""
ROLL_DAY = 5.0
DAYS = 20
ROOT_DS_TTL = 86400


def lab_policy() -> Policy:
    """The DPS's numbers under another name (a policy named dps never signs with 13)."""
    policy = load_policy()
    return replace(policy, name="lab", zsk=replace(policy.zsk, standby=False))


def run(timing: TimingParams, *, stop_at_first: bool = False) -> tuple[SimResult, list[Failure]]:
    """Simulate, sign at every instant and check every cache state (strict and not)."""
    policy = lab_policy()
    new_policy = policy_for_algorithm(policy, 13)
    store = MemoryKeyStore()
    sim = simulate(
        policy,
        timing,
        T0,
        DAYS,
        factory=keystore_factory(store, policy, ORIGIN),
        algorithm_rollover_at=ROLL_DAY,
        to_algorithm=13,
        rollover_factory=keystore_factory(store, new_policy, ORIGIN),
    )
    origin = to_wire(ORIGIN)
    by_id = {k.key_id: k for k in sim.keys}
    parent = ParentHistory(ROOT_DS_TTL, lag=ParentModel().check_interval)
    for when, ids in sim.parent_history:
        parent.add(when, frozenset(ds_tuple(origin, by_id[i].dnskey_rdata) for i in ids))
    zone = ZoneHistory(origin, lag=HOUR)
    resolvers = Resolvers(zone, parent, strict=True)
    window = math.ceil((ROOT_DS_TTL + 3600) / 3600) + 1
    instants = set(sim.event_times())
    for e in sim.event_times():
        instants.update(e + k * HOUR for k in range(1, window + 1))
    instants.update(T0 + n * DAY for n in range(DAYS + 1))
    failures: list[Failure] = []
    previous: Zone | None = None
    for t in sorted(i for i in instants if i <= T0 + DAYS * DAY):
        config = signing_config(sim.keys, policy, t)
        signed = sign_zone(read_zone_text(ZONE, ORIGIN), config, store, t, previous=previous).zone
        zone.add(t, signed)
        previous = signed
        failures.extend(resolvers.check(t))
        if failures and stop_at_first:
            break
    if not stop_at_first:
        assert resolvers.checked_instants > 200  # every event, hourly for 26 h after
        assert resolvers.crypto_validations > 10 * resolvers.checked_instants
    return sim, failures


@pytest.mark.slow
def test_the_rollover_to_13_leaves_no_validation_gap() -> None:
    policy = lab_policy()
    sim, failures = run(TimingParams.from_policy(policy))
    assert failures == [], "\n".join(map(str, failures[:20]))

    # It ran to the end: only algorithm 13 keys are left, in the zone and at the parent.
    end = T0 + DAYS * DAY
    live = [k for k in sim.keys if k.state_at(end) is not KeyState.REMOVED]
    assert {int(k.algorithm) for k in live} == {13}
    assert {int(k.algorithm) for k in sim.keys} == {8, 13}
    assert {sim_key.key_id for sim_key in live} >= set(sim.parent_ds_at(end))
    # The conservative order (RFC 6781 4.1.4), with each event's key algorithm.
    first = {}
    for e in sim.events:
        first.setdefault((e.event, e.algorithm, str(e.role)), e.time)
    presign = first[(KeyEvent.PRESIGNED, 13, "zsk")]
    publish = first[(KeyEvent.PUBLISHED, 13, "ksk")]
    submit = first[(KeyEvent.DS_SUBMITTED, 13, "ksk")]
    withdraw = first[(KeyEvent.DS_WITHDRAWAL_REQUESTED, 8, "ksk")]
    unpublish = first[(KeyEvent.UNPUBLISHED, 8, "zsk")]
    gone = first[(KeyEvent.REMOVED, 8, "ksk")]
    assert T0 + ROLL_DAY * DAY == presign < publish < submit < withdraw < unpublish < gone
    timing = TimingParams.from_policy(policy)
    assert publish - presign >= timing.signing_delay + timing.max_zone_ttl
    assert gone - unpublish >= timing.dnskey_ttl
    counts = Counter((e.event, e.algorithm) for e in sim.events)
    assert counts[(str(KeyEvent.PRESIGNED), 13)] == 2
    assert counts[(str(KeyEvent.UNPUBLISHED), 8)] == 2
    event = next(e for e in sim.events if e.event == KeyEvent.UNPUBLISHED).as_json()
    assert event["algorithm"] == 8 and set(event["key_algorithms"].values()) == {8, 13}


@pytest.mark.slow
def test_a_rollover_that_ignores_the_ttls_is_caught() -> None:
    zero = timedelta(0)
    blind = TimingParams(zero, zero, zero, zero, zero, zero, zero)
    _, failures = run(blind, stop_at_first=True)
    assert failures, "the resolver model missed DNSKEYs published with their signatures"
    # A cached RRset signed by 8 only, beside the DNSKEY RRset that now names 13: what
    # RFC 6781 4.1.4 publishes the signatures first for.
    assert failures[0].time == T0 + ROLL_DAY * DAY
    assert "algorithm 13: not signed with this algorithm of the DNSKEY RRset" in failures[0].what


def test_the_rollover_starts_only_from_a_settled_zone_with_the_policy_changed() -> None:
    policy = replace(lab_policy(), backup_before_use=False)
    new_policy = policy_for_algorithm(policy, 13)
    store = MemoryKeyStore()
    factory = keystore_factory(store, policy, ORIGIN)
    keys = rollover.bootstrap((), policy, T0, factory, "test").keys
    later = T0 + DAY
    new_factory = keystore_factory(store, new_policy, ORIGIN)
    with pytest.raises(PolicyError, match=r"set it to 13"):
        algorithm_rollover.start(keys, 13, policy, later, new_factory, "test")
    # The initial KSK's DS is not seen yet: another roll is still in progress.
    with pytest.raises(KeyManagementError, match=r"its DS is not confirmed in the parent zone"):
        algorithm_rollover.start(keys, 13, new_policy, later, new_factory, "test")
    ksk = next(k for k in keys if k.role == "ksk")
    keys = rollover.confirm_ds_seen(keys, ksk.key_id, later, "seen").keys
    # The ordinary way stays refused: a ZSK roll under the new policy.
    with pytest.raises(PolicyError, match="algorithm-rollover --to 13"):
        rollover.generate(keys, ksk.role, new_policy, later, new_factory, "test")
    started = algorithm_rollover.start(keys, 13, new_policy, later, new_factory, "test")
    new = [k for k in started.keys if k.algorithm is Algorithm.ECDSAP256SHA256]
    assert sorted(str(k.role) for k in new) == ["ksk", "zsk"]
    assert all(k.state_at(later) is KeyState.GENERATED for k in new)
    with pytest.raises(KeyManagementError, match="already under way"):
        algorithm_rollover.start(started.keys, 13, new_policy, later, new_factory, "test")
    # The plan presigns both; the signer then signs with keys it does not publish.
    steps = plan(started.keys, new_policy, TimingParams.from_policy(new_policy), later)
    assert [s.action for s in steps.due_steps()] == [Action.PRESIGN, Action.PRESIGN]
    keys = rollover.run_due(
        started.keys, new_policy, TimingParams.from_policy(new_policy), later, new_factory
    ).keys
    presigning = [z for z in zone_keys(keys, later) if z.unpublished_signer]
    assert len(presigning) == 2 and not any(z.publish for z in presigning)
    assert all(z.sign_dnskey or z.sign_zone for z in presigning)
