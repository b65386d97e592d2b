"""Operations on key records: bootstrap, due steps, switches, refusals, tag collisions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.keys.conftest import T0
from tests.keys.keymaker import factory_with_tags
from tldsec.errors import KeyManagementError
from tldsec.keys import rollover
from tldsec.keys.planner import Action, plan
from tldsec.keys.rollover import KeyFactory
from tldsec.keys.state import KeyEvent, KeyRecord, KeyState, Role
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy

DAY = timedelta(days=1)
H = timedelta(hours=1)


def boot(policy: Policy, factory: KeyFactory) -> tuple[KeyRecord, ...]:
    return rollover.bootstrap((), policy, T0, factory, "init").keys


def test_bootstrap_creates_active_ksk_and_zsk_and_standby_recording_every_transition(
    policy: Policy, factory: KeyFactory
) -> None:
    out = rollover.bootstrap((), policy, T0, factory, "tldsec init")
    ksk, zsk, standby = out.keys
    assert (ksk.role, ksk.state_at(T0), ksk.ds_submitted) == (Role.KSK, KeyState.ACTIVE, T0)
    assert (zsk.role, zsk.state_at(T0)) == (Role.ZSK, KeyState.ACTIVE)
    assert (standby.role, standby.state_at(T0)) == (Role.ZSK, KeyState.PUBLISHED)
    assert [(t.event, t.key_id) for t in out.transitions] == [
        (KeyEvent.GENERATED, ksk.key_id),
        (KeyEvent.PUBLISHED, ksk.key_id),
        (KeyEvent.ACTIVATED, ksk.key_id),
        (KeyEvent.DS_SUBMITTED, ksk.key_id),
        (KeyEvent.GENERATED, zsk.key_id),
        (KeyEvent.PUBLISHED, zsk.key_id),
        (KeyEvent.ACTIVATED, zsk.key_id),
        (KeyEvent.GENERATED, standby.key_id),
        (KeyEvent.PUBLISHED, standby.key_id),
    ]
    assert all(t.time == T0 and t.reason.startswith("tldsec init") for t in out.transitions)
    with pytest.raises(KeyManagementError, match="already has keys"):
        rollover.bootstrap(out.keys, policy, T0, factory, "again")


def test_a_scheduled_zsk_rollover_step_by_step(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    _, old, new = keys
    assert rollover.run_due(keys, policy, timing, T0 + 89 * DAY, factory).transitions == ()
    out = rollover.run_due(keys, policy, timing, T0 + 90 * DAY, factory)
    events = [(t.event, t.key_id) for t in out.transitions]
    assert events[:2] == [(KeyEvent.ACTIVATED, new.key_id), (KeyEvent.RETIRED, old.key_id)]
    # then a new standby is generated and published at once (policy zsk.standby)
    assert [e for e, _ in events[2:]] == [KeyEvent.GENERATED, KeyEvent.PUBLISHED]
    assert "lifetime of 90 days" in out.transitions[0].reason
    keys = out.keys
    out = rollover.run_due(keys, policy, timing, T0 + 97 * DAY, factory)
    assert [(t.event, t.key_id) for t in out.transitions] == [(KeyEvent.REMOVED, old.key_id)]
    assert "post-publish for 7 days (DPS 6.4)" in out.transitions[0].reason


def test_switching_a_ksk_before_ds_seen_is_refused(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    keys = rollover.run_due(keys, policy, timing, T0 + 340 * DAY, factory).keys
    now = T0 + 341 * DAY
    keys = rollover.run_due(keys, policy, timing, now, factory).keys
    new = next(k for k in keys if k.role is Role.KSK and k.state_at(now) is KeyState.PUBLISHED)
    assert new.ds_submitted is not None
    with pytest.raises(KeyManagementError, match="DS is not confirmed in the parent"):
        rollover.switch(keys, new.key_id, now, "operator insists")
    # and the planner never makes it due: the step waits on the ds-seen gate
    late = T0 + 500 * DAY
    out = rollover.run_due(keys, policy, timing, late, factory)
    assert [t for t in out.transitions if t.role is Role.KSK] == []
    switch = next(
        s
        for s in plan(keys, policy, timing, late).steps
        if s.action is Action.SWITCH and s.role is Role.KSK
    )
    assert switch.waiting_for.name == "ds-seen"


def test_a_full_ksk_rollover_with_ds_seen(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    old = keys[0]
    keys = rollover.confirm_ds_seen(keys, str(old.key_tag), T0 + 2 * DAY, "seen").keys
    for day in (335, 336, 338):
        keys = rollover.run_due(keys, policy, timing, T0 + day * DAY, factory).keys
    new = next(k for k in keys if k.role is Role.KSK and k.key_id != old.key_id)
    keys = rollover.confirm_ds_seen(keys, new.key_id, T0 + 338 * DAY, "operator").keys
    out = rollover.run_due(keys, policy, timing, T0 + 365 * DAY, factory)
    assert [(t.event, t.key_id) for t in out.transitions if t.role is Role.KSK] == [
        (KeyEvent.ACTIVATED, new.key_id),
        (KeyEvent.RETIRED, old.key_id),
    ]
    keys = out.keys
    out = rollover.run_due(keys, policy, timing, T0 + 365 * DAY + 15 * H, factory)
    assert [(t.event, t.key_id) for t in out.transitions if t.role is Role.KSK] == [
        (KeyEvent.DS_WITHDRAWAL_REQUESTED, old.key_id)
    ]
    keys = out.keys
    out = rollover.run_due(keys, policy, timing, T0 + 395 * DAY, factory)
    assert [(t.event, t.key_id) for t in out.transitions if t.role is Role.KSK] == [
        (KeyEvent.REMOVED, old.key_id)
    ]
    keys = rollover.confirm_ds_withdrawn(out.keys, old.key_id, T0 + 396 * DAY, "gone").keys
    assert keys[0].ds_withdrawn == T0 + 396 * DAY


def test_rolling_a_key_that_is_not_active_is_refused(policy: Policy, factory: KeyFactory) -> None:
    keys = boot(policy, factory)
    standby = keys[2]
    with pytest.raises(KeyManagementError, match="not active: only the active key rolls"):
        rollover.request_rollover(keys, Role.ZSK, T0, "why not", key_ref=standby.key_id)
    with pytest.raises(KeyManagementError, match="is not a ksk"):
        rollover.request_rollover(keys, Role.KSK, T0, "x", key_ref=standby.key_id)
    with pytest.raises(KeyManagementError, match="no active zsk"):
        rollover.request_rollover((), Role.ZSK, T0, "x")


def test_a_requested_rollover_cuts_the_lifetime_but_not_the_dps_periods(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    out = rollover.request_rollover(keys, Role.ZSK, T0 + 3 * DAY, "new HSM")
    assert out.transitions[0].event is KeyEvent.ROLLOVER_REQUESTED
    switch = next(
        s for s in plan(out.keys, policy, timing, T0 + 3 * DAY).steps if s.action is Action.SWITCH
    )
    assert switch.due == T0 + 7 * DAY  # the standby's 7-day pre-publish still holds
    assert switch.waiting_for.name == "dps-prepublish"


def test_reactivating_a_retired_key_is_refused(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    old = keys[1]
    keys = rollover.run_due(keys, policy, timing, T0 + 90 * DAY, factory).keys
    with pytest.raises(KeyManagementError, match=r"never signs again \(DPS 5.3\)"):
        rollover.switch(keys, old.key_id, T0 + 91 * DAY, "bring it back")


def test_a_step_that_is_not_due_is_refused(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    step = plan(keys, policy, timing, T0).steps[0]
    with pytest.raises(KeyManagementError, match="is not due"):
        rollover.apply_step(keys, step, policy, T0, factory)


def test_a_new_key_whose_tag_collides_with_the_zone_or_its_history_is_discarded(
    policy: Policy, timing: TimingParams
) -> None:
    factory, made = factory_with_tags([1000, 2000, 3000, 2000, 1000, 4000])
    keys = rollover.bootstrap((), policy, T0, factory, "init").keys
    assert [k.key_tag for k in keys] == [1000, 2000, 3000]
    # At the switch the new standby first comes out as 2000 (the retiring key's tag),
    # then 1000 (the KSK's), both discarded; 4000 is kept.
    out = rollover.run_due(keys, policy, timing, T0 + 90 * DAY, factory)
    discarded = [t for t in out.transitions if t.event is KeyEvent.DISCARDED]
    assert [t.key_tag for t in discarded] == [2000, 1000]
    assert "collides" in discarded[0].reason
    assert [k.key_tag for k in out.keys] == [1000, 2000, 3000, 4000]
    assert made[3] not in {k.key_id for k in out.keys}


def test_tags_of_removed_keys_stay_taken(policy: Policy, timing: TimingParams) -> None:
    factory, _ = factory_with_tags([1, 2, 3, 4, 2, 5])
    keys = rollover.bootstrap((), policy, T0, factory, "init").keys
    keys = rollover.run_due(keys, policy, timing, T0 + 90 * DAY, factory).keys  # new standby 4
    keys = rollover.run_due(keys, policy, timing, T0 + 97 * DAY, factory).keys  # 2 removed
    assert next(k for k in keys if k.key_tag == 2).state_at(T0 + 97 * DAY) is KeyState.REMOVED
    out = rollover.run_due(keys, policy, timing, T0 + 180 * DAY, factory)
    assert [t.key_tag for t in out.transitions if t.event is KeyEvent.DISCARDED] == [2]


def test_endless_collisions_are_an_error(policy: Policy) -> None:
    factory, _ = factory_with_tags([7] * 40)
    with pytest.raises(KeyManagementError, match="colliding key tags"):
        rollover.bootstrap((), policy, T0, factory, "init")


def test_find_key_by_id_or_tag(policy: Policy, factory: KeyFactory) -> None:
    keys = boot(policy, factory)
    assert rollover.find_key(keys, keys[1].key_id) is keys[1]
    assert rollover.find_key(keys, str(keys[1].key_tag)) is keys[1]
    with pytest.raises(KeyManagementError, match="no key with id or key tag"):
        rollover.find_key(keys, "nope")
