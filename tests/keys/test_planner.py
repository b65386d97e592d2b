"""The planner: next steps, their due times, and which constraint each waits for."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.keys.conftest import T0
from tldsec.keys import rollover
from tldsec.keys.planner import Action, Plan, Step, human, plan
from tldsec.keys.rollover import KeyFactory
from tldsec.keys.state import KeyRecord, Role
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy

DAY = timedelta(days=1)
H = timedelta(hours=1)


def boot(policy: Policy, factory: KeyFactory) -> tuple[KeyRecord, ...]:
    return rollover.bootstrap((), policy, T0, factory, "init").keys


def only(p: Plan, action: Action, role: Role) -> Step:
    steps = [s for s in p.steps if s.action is action and s.role is role]
    assert len(steps) == 1, steps
    return steps[0]


def test_an_empty_zone_waits_for_bootstrap(policy: Policy, timing: TimingParams) -> None:
    p = plan((), policy, timing, T0)
    assert {s.action for s in p.steps} == {Action.BOOTSTRAP}
    assert all(s.due is None for s in p.steps)
    assert "tldsec init" in p.steps[0].waiting_for.description


def test_after_bootstrap_the_zsk_switch_waits_for_the_90_day_lifetime(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    p = plan(keys, policy, timing, T0)
    switch = only(p, Action.SWITCH, Role.ZSK)
    assert switch.due == T0 + 90 * DAY
    assert switch.waiting_for.name == "lifetime"
    assert "90 days (DPS 6.4)" in switch.waiting_for.description
    assert {c.name for c in switch.constraints} == {"lifetime", "dps-prepublish", "rfc7583-ipub"}


def test_the_initial_ds_is_a_visible_gate_not_a_silent_wait(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    p = plan(keys, policy, timing, T0)
    gate = only(p, Action.CONFIRM_DS_SEEN, Role.KSK)
    assert gate.due is None
    assert gate in p.gates
    assert f"tldsec keys ds-seen {gate.key_tag}" in gate.waiting_for.description


def test_without_standby_the_successor_zsk_is_published_7_days_ahead(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    policy = replace(policy, zsk=replace(policy.zsk, standby=False))
    keys = boot(policy, factory)
    assert len([k for k in keys if k.role is Role.ZSK]) == 1
    publish = only(plan(keys, policy, timing, T0), Action.PUBLISH, Role.ZSK)
    assert publish.due == T0 + 83 * DAY
    assert publish.key_id is None  # a key still to be generated
    assert "pre-publish 7 days" in publish.waiting_for.description


def test_dps_periods_are_minimums_long_ttls_stretch_them(
    policy: Policy, factory: KeyFactory
) -> None:
    policy = replace(policy, zsk=replace(policy.zsk, standby=False))
    slow = TimingParams.from_policy(policy, propagation_delay=9 * DAY)
    keys = boot(policy, factory)
    publish = only(plan(keys, policy, slow, T0), Action.PUBLISH, Role.ZSK)
    # Ipub = 9 days + 12 h + 1 h > the DPS's 7 days
    assert publish.due == T0 + 90 * DAY - (9 * DAY + 13 * H)
    keys = rollover.run_due(keys, policy, slow, publish.due, factory).keys
    switch = only(plan(keys, policy, slow, publish.due), Action.SWITCH, Role.ZSK)
    assert switch.due == T0 + 90 * DAY
    early = replace(next(k for k in keys if k.published == publish.due), published=T0 + 85 * DAY)
    keys = tuple(early if k.key_id == early.key_id else k for k in keys)
    switch = only(plan(keys, policy, slow, T0 + 85 * DAY), Action.SWITCH, Role.ZSK)
    assert switch.waiting_for.name == "rfc7583-ipub"
    assert switch.due == T0 + 85 * DAY + 9 * DAY + 13 * H


def test_ksk_switch_waits_for_ds_seen_then_for_the_ds_ttl(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    ksk = next(k for k in keys if k.role is Role.KSK)
    keys = rollover.confirm_ds_seen(keys, ksk.key_id, T0 + 2 * DAY, "seen").keys
    publish = only(plan(keys, policy, timing, T0 + 2 * DAY), Action.PUBLISH, Role.KSK)
    assert publish.due == T0 + 335 * DAY  # 365 - 30 days pre-publish (DPS 6.4)
    now = T0 + 335 * DAY
    keys = rollover.run_due(keys, policy, timing, now, factory).keys
    p = plan(keys, policy, timing, now)
    submit = only(p, Action.SUBMIT_DS, Role.KSK)
    assert submit.due == now + 14 * H  # IpubC
    switch = only(p, Action.SWITCH, Role.KSK)
    assert switch.due is None
    assert switch.waiting_for.name == "ds-seen"
    keys = rollover.run_due(keys, policy, timing, now + 14 * H, factory).keys
    new = next(k for k in keys if k.role is Role.KSK and k.key_id != ksk.key_id)
    assert new.ds_submitted == now + 14 * H
    seen = now + 3 * DAY
    keys = rollover.confirm_ds_seen(keys, new.key_id, seen, "operator").keys
    switch = only(plan(keys, policy, timing, seen), Action.SWITCH, Role.KSK)
    assert switch.due == T0 + 365 * DAY  # the lifetime decides here
    late = T0 + 364 * DAY + 12 * H
    keys2 = tuple(replace(k, ds_seen=late) if k.key_id == new.key_id else k for k in keys)
    switch = only(plan(keys2, policy, timing, late), Action.SWITCH, Role.KSK)
    assert switch.waiting_for.name == "rfc7583-ipubp"
    assert switch.due == late + 37 * H


def test_retired_keys_wait_for_post_publish_and_the_retire_interval(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    keys = rollover.run_due(keys, policy, timing, T0 + 90 * DAY, factory).keys
    remove = only(plan(keys, policy, timing, T0 + 90 * DAY), Action.REMOVE, Role.ZSK)
    assert remove.due == T0 + 97 * DAY
    assert remove.waiting_for.name == "dps-postpublish"
    assert {c.name for c in remove.constraints} == {"dps-postpublish", "rfc7583-iret"}


def test_plan_orders_timed_steps_then_gates_and_gives_the_next_wakeup(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    p = plan(keys, policy, timing, T0)
    dues = [s.due for s in p.steps]
    timed = [d for d in dues if d is not None]
    assert timed == sorted(timed)
    assert dues[len(timed) :] == [None] * (len(dues) - len(timed))
    assert p.next_wakeup() == T0 + 90 * DAY
    assert p.due_steps(T0) == ()
    assert p.due_steps(T0 + 90 * DAY)[0].action is Action.SWITCH


def test_human_durations() -> None:
    assert human(30 * DAY) == "30 days"
    assert human(DAY) == "1 day"
    assert human(14 * H) == "14 h"
    assert human(26 * H + timedelta(minutes=15)) == "26 h 15 min"
    assert human(timedelta(minutes=15)) == "15 min"
