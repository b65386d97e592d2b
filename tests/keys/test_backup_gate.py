"""Backed up before use (DPS 5.2.4, ``keystore.backup_before_use``): a key enters the
zone only once a checked archive under the SMK holds it. The planner shows the wait as
a gate ("waiting for backup") like its others, the first keys wait too, and a 400-day
simulation keeps every promise with each key backed up before it is published."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from tests.keys.conftest import T0
from tldsec.errors import KeyManagementError
from tldsec.keys import rollover, state
from tldsec.keys.planner import Action, plan
from tldsec.keys.rollover import KeyFactory
from tldsec.keys.simulate import simulate
from tldsec.keys.state import KeyState, Role
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy

DAY = timedelta(days=1)


@pytest.fixture
def gated(policy: Policy) -> Policy:
    return dataclasses.replace(policy, backup_before_use=True)


def test_the_first_keys_wait_for_their_backup(
    gated: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = rollover.bootstrap((), gated, T0, factory, "init").keys
    assert [k.state_at(T0) for k in keys] == [KeyState.GENERATED, KeyState.GENERATED]
    p = plan(keys, gated, timing, T0)
    assert {(s.action, s.role) for s in p.gates} == {
        (Action.BOOTSTRAP, Role.KSK),
        (Action.BOOTSTRAP, Role.ZSK),
    }
    assert all(s.waiting_for.description.startswith("backup: an archive") for s in p.gates)
    assert rollover.run_due(keys, gated, timing, T0, factory).transitions == ()

    later = T0 + timedelta(hours=2)
    ksk, zsk = keys
    keys = rollover.record_backup(keys, [ksk.key_id, zsk.key_id, "other"], later, "a").keys
    with pytest.raises(KeyManagementError, match="already backed up"):
        state.mark_backed_up(keys[0], later, "again")
    outcome = rollover.run_due(keys, gated, timing, later, factory)
    ksk, zsk, standby = outcome.keys
    assert ksk.signs_at(later) and zsk.signs_at(later) and ksk.ds_submitted == later
    # The standby ZSK is made at once, and waits for its own backup before it is published.
    assert standby.state_at(later) is KeyState.GENERATED and standby.backed_up is None
    (waiting,) = [s for s in plan(outcome.keys, gated, timing, later).gates if s.role is Role.ZSK]
    assert waiting.action is Action.PUBLISH and waiting.key_id == standby.key_id
    assert waiting.waiting_for.name == "backup"
    keys = rollover.record_backup(outcome.keys, [standby.key_id], later + DAY, "b").keys
    again = rollover.run_due(keys, gated, timing, later + DAY, factory)
    assert rollover.find_key(again.keys, standby.key_id).published == later + DAY


def test_a_key_published_before_the_rule_does_not_take_over_unbacked(
    policy: Policy, gated: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = rollover.bootstrap((), policy, T0, factory, "init").keys  # no rule yet
    standby = next(k for k in keys if k.state_at(T0) is KeyState.PUBLISHED)
    later = T0 + policy.zsk.lifetime
    switch = next(s for s in plan(keys, gated, timing, later).steps if s.action is Action.SWITCH)
    assert switch.key_id == standby.key_id and switch.due is None
    assert switch.waiting_for.name == "backup"
    assert next(s for s in plan(keys, policy, timing, later).steps if s.action is Action.SWITCH).due


def test_400_days_with_every_key_backed_up_before_it_is_published(
    gated: Policy, timing: TimingParams
) -> None:
    run = simulate(gated, timing, T0, 400, emergency_zsk_at=200.5, backup_delay=DAY)
    assert len([k for k in run.keys if k.role is Role.ZSK]) >= 5
    assert any(k.role is Role.KSK and k.retired for k in run.keys)  # a KSK roll happened
    for k in run.keys:
        if k.published is not None:
            assert k.backed_up is not None and k.backed_up <= k.published, k
    for e in run.events:
        if e.signing_zone:
            assert e.signing_dnskey and set(e.signing_zone) <= set(e.published), e
    assert sum(e.event == "key.backed-up" for e in run.events) == len(run.keys)
