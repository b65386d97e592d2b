"""The simulation: three years of the DPS schedule with emergencies, checked event by event."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.keys.conftest import T0
from tldsec.keys.simulate import ParentModel, SimResult, format_table, simulate
from tldsec.keys.state import KeyRecord, Role
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy

DAY = timedelta(days=1)


@pytest.fixture
def run(policy: Policy, timing: TimingParams) -> SimResult:
    return simulate(policy, timing, T0, 1100, emergency_zsk_at=200.5, emergency_ksk_at=500.25)


def test_every_event_leaves_a_signed_published_zone_and_a_trusted_ksk(run: SimResult) -> None:
    secure = False
    for e in run.events:
        if e.event == "key.generated" and e.time == T0:
            continue  # bootstrap, before the first key is published
        if not e.signing_zone:
            continue  # bootstrap, between KSK and ZSK activation
        assert e.signing_dnskey and set(e.signing_dnskey) <= set(e.published), e
        assert set(e.signing_zone) <= set(e.published), e
        secure = secure or bool(e.parent_ds)
        if secure:
            # once secure, some DS in the parent always matches a key signing the DNSKEY RRset
            assert set(e.parent_ds) & set(e.signing_dnskey), e
    assert secure


def test_the_dps_periods_hold_for_every_key(run: SimResult, policy: Policy) -> None:
    ksks = [k for k in run.keys if k.role is Role.KSK]
    zsks = [k for k in run.keys if k.role is Role.ZSK]
    assert len(ksks) >= 4  # bootstrap + 2 scheduled + 1 emergency within 1100 days
    assert len(zsks) >= 13
    for k in [*ksks, *zsks]:
        kp = policy.ksk if k.role is Role.KSK else policy.zsk
        scheduled = k.compromised is None and not _after_emergency(k, ksks)
        if k.active and k.published and k.active > run.start and scheduled:
            assert k.active - k.published >= kp.prepublish, k
        if k.retired and k.removed:
            post = kp.emergency_postpublish if k.compromised else kp.postpublish
            assert k.removed - k.retired >= post, k
        if k.active and k.retired and k.compromised is None and k.rollover_requested is None:
            assert k.retired - k.active >= kp.lifetime, k


def _after_emergency(k: KeyRecord, ksks: list[KeyRecord]) -> bool:
    return any(o.compromised and o.retired == k.active for o in ksks)


def test_json_objects_carry_the_documented_fields(run: SimResult) -> None:
    data = json.loads(json.dumps([e.as_json() for e in run.events]))
    assert {
        "time",
        "event",
        "key_tag",
        "role",
        "published",
        "signing_dnskey",
        "signing_zone",
        "parent_ds",
    } <= set(data[0])
    assert data[0]["time"] == "2025-01-01T00:00:00Z"
    assert {d["role"] for d in data} == {"ksk", "zsk"}
    assert {"key.compromised", "parent.ds-added", "ds.seen", "ds.withdrawn"} <= {
        d["event"] for d in data
    }


def test_the_table_has_one_line_per_event(run: SimResult) -> None:
    table = format_table(run.events).splitlines()
    assert table[0].split()[:3] == ["time", "(UTC)", "event"]
    assert len(table) == len(run.events) + 2


def test_the_parent_history_answers_for_any_instant(run: SimResult) -> None:
    first = run.keys[0]
    assert run.parent_ds_at(T0) == frozenset()
    assert run.parent_ds_at(T0 + 2 * DAY) == {first.key_id}  # registration delay 2 days


def test_a_slow_parent_only_delays_the_ksk_switch(policy: Policy, timing: TimingParams) -> None:
    run = simulate(policy, timing, T0, 400, parent=ParentModel(registration_delay=40 * DAY))
    ksks = [k for k in run.keys if k.role is Role.KSK]
    new = ksks[1]
    assert new.ds_seen is not None and new.active is not None
    assert new.active >= new.ds_seen + timedelta(hours=37)
    assert new.active > T0 + 365 * DAY  # later than the lifetime: the gate held it
