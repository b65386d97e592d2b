"""Going insecure in the simulation (``keys simulate --go-insecure-at``), checked by the
resolver model: at every event, hourly through the parent's DS TTL after each and daily,
the zone (signed by the real signer while it has keys, unsigned after the last step) is
checked against every DS set a validator may have cached. A validator never holds a DS
for the unsigned zone, so no instant is bogus; the same run with a schedule that believes
every TTL is zero must find the moment it would be."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.keys.conftest import T0
from tests.keys.resolver_model import Failure, ParentHistory, Resolvers, ZoneHistory, ds_tuple
from tldsec.cli.main import main
from tldsec.dnscore.names import to_wire
from tldsec.dnscore.zonefile import read_zone_text
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.keys.plan import signing_config
from tldsec.keys.service import keystore_factory
from tldsec.keys.simulate import ParentModel, SimResult, simulate
from tldsec.keys.state import KeyEvent, KeyState
from tldsec.keys.timing import TimingParams, ds_publish_interval
from tldsec.policy import Policy
from tldsec.signer import sign_zone

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
ORIGIN = "example."
ZONE = f"""$ORIGIN {ORIGIN}
$TTL 86400
@ SOA ns1 hostmaster 2025010101 7200 3600 1209600 3600
@ NS ns1
ns1 A 192.0.2.1
a NS ns.a
ns.a A 192.0.2.10
b NS ns.b.example.net.
b DS 12345 8 2 {"5E" * 32}
"""
DAYS, INSECURE_DAY = 7, 1.0
ROOT_DS_TTL = 86400


def run(
    policy: Policy, timing: TimingParams, *, stop_at_first: bool = False
) -> tuple[SimResult, list[Failure]]:
    store = MemoryKeyStore()
    sim = simulate(
        policy,
        timing,
        T0,
        DAYS,
        factory=keystore_factory(store, policy, ORIGIN),
        go_insecure_at=INSECURE_DAY,
    )
    origin = to_wire(ORIGIN)
    by_id = {k.key_id: k for k in sim.keys}
    parent = ParentHistory(ROOT_DS_TTL, lag=ParentModel().check_interval)
    for when, ids in sim.parent_history:
        parent.add(when, frozenset(ds_tuple(origin, by_id[i].dnskey_rdata) for i in ids))
    zone = ZoneHistory(origin, lag=HOUR)
    resolvers = Resolvers(zone, parent)
    window = math.ceil((ROOT_DS_TTL + 3600) / 3600) + 1
    instants = set(sim.event_times())
    for e in sim.event_times():
        instants.update(e + k * HOUR for k in range(1, window + 1))
    instants.update(T0 + n * DAY for n in range(DAYS + 1))
    failures: list[Failure] = []
    for t in sorted(i for i in instants if T0 + HOUR <= i <= T0 + DAYS * DAY):
        unsigned = read_zone_text(ZONE, ORIGIN)
        if sim.unsigned_at is not None and t >= sim.unsigned_at:
            zone.add(t, unsigned)
        else:
            config = signing_config(sim.keys, policy, t)
            zone.add(t, sign_zone(unsigned, config, store, t).zone)
        failures.extend(resolvers.check(t))
        if failures and stop_at_first:
            break
    return sim, failures


@pytest.mark.slow
def test_going_insecure_leaves_no_bogus_instant(policy: Policy, timing: TimingParams) -> None:
    sim, failures = run(policy, timing)
    assert failures == [], "\n".join(map(str, failures[:20]))
    assert sim.unsigned_at is not None
    # The order: the DS requested away at the start, gone at the parent, then (the DS
    # TTL and margins later) every key retired and removed at one instant.
    start = T0 + INSECURE_DAY * DAY
    (requested,) = [e for e in sim.events if e.event == KeyEvent.DS_WITHDRAWAL_REQUESTED]
    assert requested.time == start and "goes insecure" in requested.reason
    removed_at_parent = max(t for t, ids in sim.parent_history if not ids)
    assert sim.unsigned_at >= removed_at_parent + timedelta(seconds=ROOT_DS_TTL)
    assert sim.unsigned_at >= removed_at_parent + ds_publish_interval(timing)
    last = [e for e in sim.events if e.time == sim.unsigned_at]
    assert {e.event for e in last} == {str(KeyEvent.RETIRED), str(KeyEvent.REMOVED)}
    assert all(e.published == () and e.parent_ds == () for e in last[-1:])
    assert all(k.state_at(sim.unsigned_at) is KeyState.REMOVED for k in sim.keys)
    assert max(e.time for e in sim.events) == sim.unsigned_at  # nothing after it


@pytest.mark.slow
def test_a_schedule_that_ignores_the_ds_ttl_is_caught(policy: Policy) -> None:
    zero = timedelta(0)
    blind = TimingParams(zero, zero, zero, zero, zero, zero, zero)
    sim, failures = run(replace(policy), blind, stop_at_first=True)
    assert sim.unsigned_at is not None and failures
    # A validator still holding the DS the parent served within its TTL meets the zone
    # without signatures: what waiting DprpP + TTLds before the last step prevents.
    assert failures[0].time >= sim.unsigned_at
    assert "no RRSIG" in failures[0].what or "no DNSKEY RRset" in failures[0].what


def test_the_cli_simulates_going_insecure_with_the_usual_event_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["keys", "simulate", "--days", "30", "--go-insecure-at", "3", "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert main(["keys", "simulate", "--days", "30", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert {frozenset(e) for e in events} == {frozenset(e) for e in plain}
    removed = [e for e in events if e["event"] == "key.removed"]
    assert removed and "published unsigned" in removed[-1]["reason"]
    assert events[-1]["published"] == [] and events[-1]["parent_ds"] == []
