"""Going insecure (DPS 4.6, keys/go_insecure.py): every DS leaves first, the signatures
last, with the waits visible in the plan; cancel brings a DS back by a KSK roll."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from tests.keys.conftest import T0
from tldsec.errors import KeyManagementError
from tldsec.keys import go_insecure, rollover
from tldsec.keys.plan import signing_config
from tldsec.keys.planner import Action, Constraint, plan
from tldsec.keys.rollover import KeyFactory
from tldsec.keys.state import DsState, KeyRecord, KeyState, Role
from tldsec.keys.timing import TimingParams, ds_publish_interval
from tldsec.policy import Policy

DAY = timedelta(days=1)


def settled(policy: Policy, timing: TimingParams, factory: KeyFactory) -> tuple[KeyRecord, ...]:
    """A zone with its first keys in, the KSK's DS seen at the parent, nothing due."""
    keys = rollover.bootstrap((), policy, T0, factory, "test").keys
    ksk = next(k for k in keys if k.role is Role.KSK)
    keys = rollover.confirm_ds_seen(keys, ksk.key_id, T0 + DAY, "seen").keys
    return rollover.run_due(keys, policy, timing, T0 + DAY, factory).keys


def ksk_of(keys: tuple[KeyRecord, ...]) -> KeyRecord:
    return next(k for k in keys if k.role is Role.KSK and k.removed is None)


def test_the_ds_leaves_first_and_signing_never_stops_before_every_cached_ds_expired(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = settled(policy, timing, factory)
    since = T0 + 2 * DAY
    keys = go_insecure.start(keys, since, "TLD handed back").keys
    ksk = ksk_of(keys)
    assert ksk.ds_state_at(since) is DsState.WITHDRAWAL_REQUESTED
    assert ksk.state_at(since) is KeyState.ACTIVE  # still signs

    # The fake clock runs on through every wakeup, for months: the plan never lets the
    # zone stop signing while the DS gate is open, and no KSK rollover starts (a new
    # KSK would bring a DS back), however long the KSK's lifetime is exceeded.
    now = since
    for _ in range(200):
        p = plan(keys, policy, timing, now, insecure_since=since)
        unsign = next(s for s in p.steps if s.action is Action.UNSIGN)
        assert unsign.due is None and unsign.waiting_for.name == "ds-gone"
        assert not any(s.role is Role.KSK and s.due is not None for s in p.steps)
        keys = rollover.run_due(keys, policy, timing, now, factory, insecure_since=since).keys
        assert [k.key_id for k in keys if k.role is Role.KSK] == [ksk.key_id]
        wake = p.next_wakeup()
        now = max(wake, now + DAY) if wake else now + 7 * DAY
    assert now > since + policy.ksk.lifetime
    assert ksk_of(keys).state_at(now) is KeyState.ACTIVE
    assert signing_config(keys, policy, now).keys  # signed throughout

    gone = now
    keys = rollover.confirm_ds_withdrawn(keys, ksk.key_id, gone, "parent check").keys
    expiry = gone + ds_publish_interval(timing)
    p = plan(keys, policy, timing, gone, insecure_since=since)
    unsign = next(s for s in p.steps if s.action is Action.UNSIGN)
    assert unsign.due == expiry and unsign.waiting_for.name == "ds-expired"
    assert not any(s.action is Action.CONFIRM_DS_WITHDRAWN for s in p.steps)
    # One second before the last cached DS may expire: still waiting, still signed.
    before = expiry - timedelta(seconds=1)
    assert not plan(keys, policy, timing, before, insecure_since=since).due_steps(before)
    # After it: the last step runs; every key retires and leaves the zone at once.
    after = expiry + timedelta(seconds=1)
    done = rollover.run_due(keys, policy, timing, after, factory, insecure_since=since)
    assert all(k.state_at(after) is KeyState.REMOVED for k in done.keys)
    assert go_insecure.unsigned_at(done.keys, since) == after
    assert go_insecure.unsigned_at(keys, since) is None
    with pytest.raises(KeyManagementError, match="no active ksk"):
        signing_config(done.keys, policy, after)
    # Unsigned, nothing is planned: no ZSK roll, no new key, for a year.
    assert plan(done.keys, policy, timing, after + 365 * DAY, insecure_since=since).steps == ()


def test_the_wait_counts_from_the_last_ds_gone_of_every_ksk(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = settled(policy, timing, factory)
    # A KSK rollover done: the old KSK retired with its DS withdrawal requested.
    keys = rollover.request_rollover(keys, Role.KSK, T0 + 2 * DAY, "roll").keys
    now = T0 + 2 * DAY
    for _ in range(60):
        keys = rollover.run_due(keys, policy, timing, now, factory).keys
        new = [k for k in keys if k.role is Role.KSK and k.ds_state_at(now) is DsState.SUBMITTED]
        for k in new:
            keys = rollover.confirm_ds_seen(keys, k.key_id, now, "seen").keys
        if any(k.role is Role.KSK and k.state_at(now) is KeyState.RETIRED for k in keys):
            break
        now += DAY
    old = next(k for k in keys if k.role is Role.KSK and k.state_at(now) is KeyState.RETIRED)
    keys = rollover.run_due(keys, policy, timing, now + 3 * DAY, factory).keys
    assert next(k for k in keys if k.key_id == old.key_id).ds_withdrawal_requested is not None
    since = now + 3 * DAY
    keys = go_insecure.start(keys, since, "wind down").keys
    active = next(k for k in keys if k.role is Role.KSK and k.state_at(since) is KeyState.ACTIVE)
    p = plan(keys, policy, timing, since, insecure_since=since)
    gates = {(s.action, s.key_tag) for s in p.gates}
    # Both DSes are gates: the retired KSK's through its own retiring steps.
    assert (Action.CONFIRM_DS_WITHDRAWN, active.key_tag) in gates
    assert (Action.CONFIRM_DS_WITHDRAWN, old.key_tag) in gates
    keys = rollover.confirm_ds_withdrawn(keys, active.key_id, since + DAY, "gone").keys
    unsign = next(
        s
        for s in plan(keys, policy, timing, since + DAY, insecure_since=since).steps
        if s.action is Action.UNSIGN
    )
    assert unsign.due is None  # the retired KSK's DS is still at the parent
    # Regression (decision 46): forced past the wait, the last step is refused, naming
    # the one KSK whose DS is not confirmed gone; nothing is half-done.
    late = since + DAY + ds_publish_interval(timing)
    with pytest.raises(KeyManagementError, match=f"the DS of ksk {old.key_tag} is not"):
        go_insecure.unsign(keys, late, "forced")
    forced = replace(unsign, constraints=(Constraint("forced", "test", since),))
    with pytest.raises(KeyManagementError, match=f"ksk {old.key_tag}"):
        rollover.apply_step(keys, forced, policy, late, factory)
    keys = rollover.confirm_ds_withdrawn(keys, old.key_id, since + 2 * DAY, "gone").keys
    unsign = next(
        s
        for s in plan(keys, policy, timing, since + 2 * DAY, insecure_since=since).steps
        if s.action is Action.UNSIGN
    )
    assert unsign.due == since + 2 * DAY + ds_publish_interval(timing)


def test_start_refuses_a_zone_in_the_middle_of_a_ksk_rollover_or_without_keys(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    with pytest.raises(KeyManagementError, match="no active KSK"):
        go_insecure.start((), T0, "x")
    keys = settled(policy, timing, factory)
    keys = rollover.request_rollover(keys, Role.KSK, T0 + 2 * DAY, "roll").keys
    keys = rollover.run_due(keys, policy, timing, T0 + 2 * DAY, factory).keys
    assert any(k.role is Role.KSK and k.state_at(T0 + 2 * DAY) is KeyState.PUBLISHED for k in keys)
    with pytest.raises(KeyManagementError, match="KSK rollover is in progress"):
        go_insecure.start(keys, T0 + 2 * DAY, "x")


def test_cancel_rolls_the_ksk_so_a_new_ds_goes_to_the_parent(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = settled(policy, timing, factory)
    since = T0 + 2 * DAY
    keys = go_insecure.start(keys, since, "x").keys
    old = ksk_of(keys)
    later = since + DAY
    cancelled = go_insecure.cancel(keys, later, "changed our minds")
    assert [t.event.value for t in cancelled.transitions] == ["key.rollover-requested"]
    # Back on the normal planner (no insecure_since): a new KSK, its DS submitted.
    keys = cancelled.keys
    now = later
    submitted: datetime | None = None
    for _ in range(60):
        keys = rollover.run_due(keys, policy, timing, now, factory).keys
        new = [k for k in keys if k.role is Role.KSK and k.key_id != old.key_id]
        if new and new[0].ds_submitted is not None:
            submitted = new[0].ds_submitted
            break
        now += DAY
    assert submitted is not None
    assert not any(s.action is Action.UNSIGN for s in plan(keys, policy, timing, now).steps)
    assert go_insecure.cancel(keys, now, "again").transitions == ()  # rollover already asked


def test_the_unsign_step_is_refused_while_a_ds_gate_is_closed(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    """Regression (decision 46): the last step, forced through apply_step while one KSK's
    DS is not confirmed gone, is refused and nothing is half-done."""
    keys = settled(policy, timing, factory)
    since = T0 + 2 * DAY
    keys = go_insecure.start(keys, since, "x").keys
    step = next(
        s
        for s in plan(keys, policy, timing, since, insecure_since=since).steps
        if s.action is Action.UNSIGN
    )
    assert step.due is None and step.waiting_for.name == "ds-gone"
    forced = replace(step, constraints=(Constraint("forced", "test", since),))
    with pytest.raises(KeyManagementError, match="not confirmed gone from the parent zone"):
        rollover.apply_step(keys, forced, policy, since + DAY, factory)
    with pytest.raises(KeyManagementError, match="not confirmed gone"):
        go_insecure.unsign(keys, since + DAY, "x")
    # Confirmed gone later than the step's time: still refused at that time.
    keys = rollover.confirm_ds_withdrawn(keys, ksk_of(keys).key_id, since + 2 * DAY, "gone").keys
    assert go_insecure.unsign(keys, since + 2 * DAY, "x").transitions
    assert "stop signing: publish the zone unsigned" in step.describe()
    assert ds_publish_interval(timing) == (
        timing.parent_propagation_delay + timing.parent_ds_ttl + timing.safety_margin
    )
