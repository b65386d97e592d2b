"""Emergency rollovers (DPS 4.5.3): what the preview announces, what execute does."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.keys.conftest import T0
from tldsec.errors import KeyManagementError
from tldsec.keys import emergency, rollover
from tldsec.keys.plan import zone_view
from tldsec.keys.planner import Action, plan
from tldsec.keys.rollover import KeyFactory
from tldsec.keys.state import KeyEvent, KeyRecord, KeyState, Role
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy

DAY = timedelta(days=1)
H = timedelta(hours=1)
NOW = T0 + 20 * DAY


def boot(policy: Policy, factory: KeyFactory) -> tuple[KeyRecord, ...]:
    keys = rollover.bootstrap((), policy, T0, factory, "init").keys
    return rollover.confirm_ds_seen(keys, keys[0].key_id, T0 + 2 * DAY, "seen").keys


def test_zsk_emergency_with_a_ready_standby(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    _, zsk, standby = keys
    preview = emergency.preview(keys, Role.ZSK, policy, timing, NOW)
    assert preview.compromised == zsk
    assert preview.replacement == standby and preview.replacement_ready
    text = preview.text()
    assert f"standby {standby.name}" in text and "takes over signing" in text
    assert "emergency post-publish 2 days" in text
    assert "can sign data that validates" in text  # the risk is spelt out
    assert "will fail to validate" not in text

    out = emergency.execute(keys, Role.ZSK, policy, timing, NOW, factory, "HSM audit finding")
    assert [(t.event, t.key_id) for t in out.transitions] == [
        (KeyEvent.COMPROMISED, zsk.key_id),
        (KeyEvent.ACTIVATED, standby.key_id),
        (KeyEvent.RETIRED, zsk.key_id),
    ]
    assert "HSM audit finding" in out.transitions[0].reason
    assert zone_view(out.keys, NOW).signing_zone == (standby.key_tag,)
    # then: a new standby at once, removal of the compromised key after 2 days
    keys = rollover.run_due(out.keys, policy, timing, NOW, factory).keys
    assert len([k for k in keys if k.state_at(NOW) is KeyState.PUBLISHED]) == 1
    remove = next(s for s in plan(keys, policy, timing, NOW).steps if s.action is Action.REMOVE)
    assert (remove.key_id, remove.due, remove.emergency) == (zsk.key_id, NOW + 2 * DAY, True)
    # the new active key gets a full lifetime from now
    switch = next(
        s
        for s in plan(keys, policy, timing, NOW).steps
        if s.action is Action.SWITCH and s.role is Role.ZSK
    )
    assert switch.due == NOW + 90 * DAY


def test_zsk_emergency_without_standby_warns_that_validation_will_fail(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    policy = replace(policy, zsk=replace(policy.zsk, standby=False))
    keys = boot(policy, factory)
    preview = emergency.preview(keys, Role.ZSK, policy, timing, NOW)
    assert preview.replacement is None and not preview.replacement_ready
    assert "a new ZSK is generated and published, and signs at once" in preview.text()
    assert "will fail to validate" in preview.text()
    out = emergency.execute(keys, Role.ZSK, policy, timing, NOW, factory, "leak")
    new = out.keys[-1]
    assert (new.published, new.active) == (NOW, NOW)
    assert [t.event for t in out.transitions] == [
        KeyEvent.COMPROMISED,
        KeyEvent.GENERATED,
        KeyEvent.PUBLISHED,
        KeyEvent.ACTIVATED,
        KeyEvent.RETIRED,
    ]


def test_ksk_emergency_starts_a_controlled_rollover_with_7_days_post_publish(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    old = keys[0]
    preview = emergency.preview(keys, Role.KSK, policy, timing, NOW)
    assert "37 h after ds-seen" in preview.text()
    assert "forge a DNSKEY RRset" in preview.text()
    out = emergency.execute(keys, Role.KSK, policy, timing, NOW, factory, "key ceremony breach")
    new = out.keys[-1]
    assert [t.event for t in out.transitions] == [
        KeyEvent.COMPROMISED,
        KeyEvent.GENERATED,
        KeyEvent.PUBLISHED,
    ]
    keys = out.keys
    # the old KSK keeps signing: the new DS is not in the parent yet
    assert zone_view(keys, NOW).signing_dnskey == (old.key_tag,)
    p = plan(keys, policy, timing, NOW)
    submit = next(s for s in p.steps if s.action is Action.SUBMIT_DS)
    assert submit.due == NOW + 2 * H and submit.emergency  # Dprp + safety, not IpubC
    keys = rollover.run_due(keys, policy, timing, NOW + 2 * H, factory).keys
    seen = NOW + 2 * DAY
    keys = rollover.confirm_ds_seen(keys, new.key_id, seen, "IANA done").keys
    switch = next(
        s
        for s in plan(keys, policy, timing, seen).steps
        if s.action is Action.SWITCH and s.role is Role.KSK
    )
    assert switch.due == seen + 37 * H  # no lifetime, no 30-day pre-publish
    keys = rollover.run_due(keys, policy, timing, seen + 37 * H, factory).keys
    remove = next(
        s
        for s in plan(keys, policy, timing, seen + 37 * H).steps
        if s.action is Action.REMOVE and s.role is Role.KSK
    )
    assert remove.due == seen + 37 * H + 7 * DAY
    assert "emergency post-publish for 7 days" in remove.waiting_for.description


def test_a_compromised_standby_leaves_the_zone_now(
    policy: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = boot(policy, factory)
    standby = keys[2]
    preview = emergency.preview(keys, Role.ZSK, policy, timing, NOW, key_ref=standby.key_id)
    assert "leaves the zone now" in preview.text()
    out = emergency.execute(
        keys, Role.ZSK, policy, timing, NOW, factory, "x", key_ref=standby.key_id
    )
    assert [t.event for t in out.transitions] == [KeyEvent.COMPROMISED, KeyEvent.REMOVED]
    keys = rollover.run_due(out.keys, policy, timing, NOW, factory).keys
    assert len([k for k in keys if k.state_at(NOW) is KeyState.PUBLISHED]) == 1  # new standby


def test_refusals(policy: Policy, timing: TimingParams, factory: KeyFactory) -> None:
    keys = boot(policy, factory)
    keys = emergency.execute(keys, Role.ZSK, policy, timing, NOW, factory, "x").keys
    compromised = keys[1]
    with pytest.raises(KeyManagementError, match="already marked compromised"):
        emergency.preview(keys, Role.ZSK, policy, timing, NOW, key_ref=compromised.key_id)
    with pytest.raises(KeyManagementError, match="is not a ksk"):
        emergency.preview(keys, Role.KSK, policy, timing, NOW, key_ref=compromised.key_id)
    with pytest.raises(KeyManagementError, match="no active zsk"):
        emergency.preview((), Role.ZSK, policy, timing, NOW)
