"""Which notices are due (pure): each kind fires in its window, once per id, and only
for what happened."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from tldsec.audit.entry import Entry
from tldsec.keys.simulate import fake_key_factory, simulate
from tldsec.keys.state import Role
from tldsec.keys.timing import TimingParams
from tldsec.keys.transfer import ForeignKey, Transfer
from tldsec.notify.notices import (
    NoticeKind,
    ServedChange,
    dps_notices,
    ds_live_notices,
    incident_notices,
    rollover_notices,
)
from tldsec.policy import Policy, load_policy
from tldsec.publish.calendar import rollover_calendar
from tldsec.publish.dps import DpsVersion
from tldsec.publish.incidents import incidents

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def policy() -> Policy:
    return dataclasses.replace(load_policy(), backup_before_use=False)


def entry(
    seq: int, when: datetime, event: str, actor: str = "component:cycle", **d: object
) -> Entry:
    return Entry(seq, when, actor, event, "info", d, "0" * 64, "1" * 64)


def test_a_zsk_rollover_is_announced_n_days_ahead_and_when_done(policy: Policy) -> None:
    timing = TimingParams.from_policy(policy)
    keys = simulate(policy, timing, T0, 1).keys
    zsk = next(k for k in keys if k.role == "zsk" and k.active is not None)
    switch = zsk.active + policy.zsk.lifetime  # type: ignore[operator]
    ahead = timedelta(days=7)
    for now, expected in (
        (switch - timedelta(days=8), []),
        (switch - timedelta(days=6), [f"rollover-ahead:zsk:{zsk.key_tag}:example."]),
    ):
        cal = rollover_calendar(keys, policy, timing, now, 8)
        assert [
            d.id for d in rollover_notices(keys, cal, now, ahead, origin="example.")
        ] == expected
    later = simulate(policy, timing, T0, 92).keys
    after = switch + timedelta(days=1)
    cal = rollover_calendar(later, policy, timing, after, 8)
    [done] = rollover_notices(later, cal, after, ahead, origin="example.")
    assert (
        done.id == f"rollover-done:zsk:{zsk.key_tag}:example."
        and done.kind is NoticeKind.ROLLOVER_DONE
    )
    assert done.context["new_tag"] not in (None, zsk.key_tag)
    # a week later it is history: no notice (a first run does not mail the past)
    assert rollover_notices(later, cal, switch + timedelta(days=8), ahead, origin="example.") == []


def test_an_emergency_rollover_is_announced_at_once(policy: Policy) -> None:
    timing = TimingParams.from_policy(policy)
    keys = simulate(policy, timing, T0, 10, emergency_zsk_at=5).keys
    now = T0 + timedelta(days=5, minutes=1)
    ids = [d.id for d in rollover_notices(keys, [], now, timedelta(days=7), origin="example.")]
    [bad] = [k for k in keys if k.compromised is not None]
    assert f"emergency:zsk:{bad.key_tag}:example." in ids
    assert not any(i.startswith("rollover-done:zsk:" + str(bad.key_tag)) for i in ids)


def test_an_incident_and_its_end() -> None:
    found = incidents(
        [
            entry(1, T0, "cycle.failed", error="x"),
            entry(2, T0 + timedelta(hours=1), "zone.published", serial=77),
            entry(3, T0 + timedelta(hours=2), "clock.unsynchronised"),
        ]
    )
    drafts = incident_notices(found, T0 + timedelta(hours=3))
    assert [(d.id, d.kind) for d in drafts] == [
        ("incident:1", NoticeKind.INCIDENT),
        ("incident-ended:1", NoticeKind.INCIDENT_ENDED),
        ("incident:3", NoticeKind.INCIDENT),
    ]
    assert drafts[1].context["serial"] == 77
    assert incident_notices(found, T0 + timedelta(days=30)) == []


def test_a_significant_dps_change_n_days_ahead_only() -> None:
    versions = [
        DpsVersion("1.0", date(2025, 1, 1), "a"),
        DpsVersion("1.1", date(2026, 3, 1), "b", "typos", significant=False),
        DpsVersion("2.0", date(2026, 4, 1), "c", "algorithm 13"),
    ]
    ahead = timedelta(days=30)
    assert dps_notices(versions, datetime(2026, 3, 1, tzinfo=UTC), ahead) == []
    [d] = dps_notices(versions, datetime(2026, 3, 3, tzinfo=UTC), ahead)
    assert d.id == "dps-change:2.0" and d.context["days"] == 29
    assert dps_notices(versions, datetime(2026, 4, 1, tzinfo=UTC), ahead) == []  # in force


def test_ds_live_is_the_trace_fact_once_per_change_for_registrars_opted_in() -> None:
    """Decision 56: the notice says what the poll message says, served by every
    secondary at T, keyed by the change's svTRID (the outbox makes it once)."""
    change = T0 + timedelta(minutes=10)
    served = [
        ServedChange("SV-1", "reg-a", "a.example", 101, change, change + timedelta(minutes=2),
                     added=("1 8 2 AB",)),
        ServedChange("SV-2", "reg-b", "b.example", 101, change, change + timedelta(minutes=2)),
        ServedChange("SV-0", "reg-a", "old.example", 90, change - timedelta(days=9),
                     change - timedelta(days=8), removed=("2 8 2 CD",)),
    ]  # fmt: skip
    now = change + timedelta(minutes=7)
    drafts = ds_live_notices(served, ["reg-a"], now)
    assert [(d.id, d.registrar, d.context["serial"]) for d in drafts] == [
        ("ds-live:SV-1", "reg-a", 101)
    ]
    assert drafts[0].context["added"] == ["1 8 2 AB"]
    assert drafts[0].context["served"] == "2026-01-01T00:12:00Z"
    assert drafts[0].context["sv_trid"] == "SV-1"
    # not opted in: nothing; live before the look-back: nothing
    assert ds_live_notices(served, [], now) == []
    assert ds_live_notices(served[2:], ["reg-a"], now) == []


def test_no_rollover_is_announced_while_a_transfer_holds_new_keys(policy: Policy) -> None:
    """DPS 4.6: during an operator transfer no key of ours is made or published (the
    transfer's hold gate), so the calendar and the rollover-ahead notices promise none."""
    timing = TimingParams.from_policy(policy)
    sim = simulate(policy, timing, T0, 2)
    now = T0 + timedelta(days=2)
    theirs = fake_key_factory(policy, seed=99, prefix="gaining")
    started = T0 + timedelta(days=1)
    handover = Transfer(
        "gaining",
        started,
        tuple(
            ForeignKey(k.flags, k.algorithm, k.public_key, "gaining", started)
            for k in (theirs(Role.KSK, started), theirs(Role.ZSK, started))
        ),
    )
    free = rollover_calendar(sim.keys, policy, timing, now, 120)
    held = rollover_calendar(sim.keys, policy, timing, now, 120, handover=handover)
    new_keys = ("a new KSK", "a new ZSK")
    assert [c for c in free if c.description.startswith(new_keys)]  # a roll would be due
    assert not [c for c in held if c.description.startswith(new_keys)]
    ahead = timedelta(days=120)
    assert rollover_notices(sim.keys, free, now, ahead, origin="example.")
    assert rollover_notices(sim.keys, held, now, ahead, origin="example.") == []
