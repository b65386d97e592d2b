"""The replica gate (issue 14 item 5): a key that some HSM has not proved it holds is
generated but not introduced into the DNSKEY RRset, and the plan says what it waits for;
once every HSM proved it, the same step publishes it."""

from __future__ import annotations

from datetime import timedelta

from tests.keys.conftest import T0
from tldsec.keys import rollover
from tldsec.keys.planner import Action, plan, ready_gate
from tldsec.keys.rollover import KeyFactory
from tldsec.keys.state import KeyState, Role
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy

WAITING = "replicas: {key} proven on every HSM"


def test_a_key_missing_from_a_replica_is_not_introduced(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = rollover.bootstrap((), policy, T0, factory, "init").keys
    proven = frozenset(k.key_id for k in keys)  # the first keys are on every HSM
    # 100 days on: the ZSK has switched to the standby, and a new standby is due
    when = T0 + timedelta(days=100)
    gate = ready_gate("replicas", proven, WAITING)
    outcome = rollover.run_due(keys, policy, timing, when, factory, (gate,))
    (new,) = [k for k in outcome.keys if k.key_id not in proven]
    assert new.role is Role.ZSK and new.state_at(when) is KeyState.GENERATED  # made, not in

    step = next(s for s in plan(outcome.keys, policy, timing, when, (gate,)).steps
                if s.action is Action.PUBLISH and s.role is Role.ZSK)  # fmt: skip
    assert step.key_id == new.key_id and step.due is None  # a gate, visibly
    assert step.waiting_for.description == f"replicas: {new.name} proven on every HSM"
    again = rollover.run_due(outcome.keys, policy, timing, when, factory, (gate,))
    assert again.transitions == ()  # still waiting: nothing generated twice

    # once every HSM proved it, the same plan publishes it
    proven_all = ready_gate("replicas", proven | {new.key_id}, WAITING)
    done = rollover.run_due(outcome.keys, policy, timing, when, factory, (proven_all,))
    published = next(k for k in done.keys if k.key_id == new.key_id)
    assert published.state_at(when) is KeyState.PUBLISHED


def test_without_gates_the_successor_is_generated_and_published_at_once(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = rollover.bootstrap((), policy, T0, factory, "init").keys
    when = T0 + timedelta(days=100)
    outcome = rollover.run_due(keys, policy, timing, when, factory)
    (new,) = [k for k in outcome.keys if k not in keys and k.key_id not in {x.key_id for x in keys}]
    assert new.state_at(when) is KeyState.PUBLISHED
