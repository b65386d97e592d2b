"""Two zones' keys in one signer database: each KeyManager sees and changes its zone only
(decisions 57, 62), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tldsec.clock import FakeClock
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.keys.database import open_signer_db
from tldsec.keys.models import KeyEventRow, KeyRow, SignerMeta
from tldsec.keys.planner import Action, Plan
from tldsec.keys.service import (
    KeyManager,
    ZonePlanning,
    signer_zone_ids,
    stagger_hook,
    staggered_plans,
)
from tldsec.keys.state import DsState, Role
from tldsec.keys.timing import TimingParams
from tldsec.policy import load_policy

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'signer.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = open_signer_db(url)
    yield engine
    engine.dispose()


def _managers(
    engine: Engine, entries: list[dict[str, Any]], ksk_days: int = 365
) -> tuple[KeyManager, KeyManager]:
    policy = dataclasses.replace(load_policy(), backup_before_use=False)
    policy = dataclasses.replace(
        policy, ksk=dataclasses.replace(policy.ksk, lifetime=timedelta(days=ksk_days))
    )
    clock = FakeClock(T0)
    store = MemoryKeyStore()  # one token for every zone (decision 57)

    def record(event: str, *, actor: str, **details: Any) -> None:
        entries.append(details)

    example = KeyManager(engine, store, policy, clock, origin="example", recorder=record)
    shop = KeyManager(engine, store, policy, clock, origin="shop", recorder=record, zone_id=2)
    return example, shop


def test_each_zone_sees_writes_and_records_its_own_keys(engine: Engine) -> None:
    entries: list[dict[str, Any]] = []
    example, shop = _managers(engine, entries)
    made_example = example.bootstrap("init example.")
    made_shop = shop.bootstrap("zone add shop.")
    assert {k.key_id for k in example.key_records()} == {k.key_id for k in made_example}
    assert {k.key_id for k in shop.key_records()} == {k.key_id for k in made_shop}
    assert not {k.key_id for k in made_example} & {k.key_id for k in made_shop}
    # The audit entries name their zone (decision 58).
    zones = {e["key_id"]: e["zone"] for e in entries}
    assert {zones[k.key_id] for k in made_shop} == {"shop."}
    assert {zones[k.key_id] for k in made_example} == {"example."}
    # A DS seen in one zone changes nothing in the other.
    ksk = next(k for k in made_shop if k.role is Role.KSK)
    shop.ds_seen(ksk.key_id, "in the root zone")
    ex_ksk = next(k for k in example.key_records() if k.role is Role.KSK)
    assert ex_ksk.ds_state_at(T0 + DAY) is DsState.SUBMITTED
    assert next(k for k in shop.key_records() if k.key_id == ksk.key_id).ds_seen is not None
    assert {h.transition.key_id for h in shop.history()} <= {k.key_id for k in made_shop}
    assert {h.transition.key_id for h in example.history()} <= {k.key_id for k in made_example}
    # Each plan is its zone's: steps name only that zone's keys.
    ex_ids = {k.key_id for k in made_example} | {None}
    assert {s.key_id for s in example.plan().steps} <= ex_ids
    assert any(s.key_id == ex_ksk.key_id for s in example.plan().steps)
    assert all(s.key_id != ex_ksk.key_id for s in shop.plan().steps)
    assert {d.key_tag for d in shop.export_ds()} == {ksk.key_tag}
    with engine.connect() as conn:
        rows = conn.execute(select(KeyRow.zone_id, KeyRow.key_id)).all()
        assert {kid for z, kid in rows if z == 2} == {k.key_id for k in made_shop}
        events = conn.execute(select(KeyEventRow.zone_id, KeyEventRow.key_id)).all()
        assert {kid for z, kid in events if z == 2} == {k.key_id for k in made_shop}
        metas = dict(conn.execute(select(SignerMeta.id, SignerMeta.origin)).all())
    assert metas == {1: "example.", 2: "shop."}


def test_two_zones_may_hold_the_same_key_tag(engine: Engine) -> None:
    """RFC 4034 Appendix B: a tag names a key within its zone; the collision rule is per zone."""
    example, shop = _managers(engine, [])
    example.bootstrap("init example.")
    shop.bootstrap("zone add shop.")
    tag = example.key_records()[0].key_tag
    with engine.begin() as conn:
        conn.execute(
            KeyRow.__table__.update()  # type: ignore[attr-defined]
            .where(KeyRow.key_id == shop.key_records()[0].key_id)
            .values(key_tag=tag)
        )
        tags = conn.execute(select(KeyRow.zone_id).where(KeyRow.key_tag == tag)).scalars()
        assert sorted(tags) == [1, 2]


def _ksk_publish(p: Plan) -> tuple[datetime | None, tuple[str, ...]]:
    step = next(s for s in p.steps if s.role is Role.KSK and s.action is Action.PUBLISH)
    return step.due, tuple(c.name for c in step.constraints)


def test_two_zones_ksk_rolls_on_one_day_are_staggered(engine: Engine) -> None:
    """Decision 57: the second zone's KSK roll waits the stagger days, with the reason; a
    policy below the DPS maximum (350 of 365 days) leaves it the room."""
    example, shop = _managers(engine, [], ksk_days=350)
    example.bootstrap("init example.")
    shop.bootstrap("zone add shop.")
    assert signer_zone_ids(engine) == {"example.": 1, "shop.": 2}
    now = T0 + DAY
    alone = {km.origin: km.plan(now) for km in (example, shop)}
    assert _ksk_publish(alone["example."])[0] == _ksk_publish(alone["shop."])[0]
    plans = staggered_plans([(example, 7), (shop, 7)], now)
    planned_due, _ = _ksk_publish(alone["shop."])
    assert planned_due is not None
    assert _ksk_publish(plans["example."]) == _ksk_publish(alone["example."])
    due, names = _ksk_publish(plans["shop."])
    assert due == planned_due + 7 * DAY
    assert "ksk-stagger" in names
    step = next(
        s for s in plans["shop."].steps if s.action is Action.PUBLISH and s.role is Role.KSK
    )
    reason = next(c.description for c in step.constraints if c.name == "ksk-stagger")
    assert reason.startswith("KSK roll of shop. waits until ")
    assert "example.'s DS goes to the parent on" in reason
    # ksk_stagger_days = 0: the two roll on the same day.
    same = staggered_plans([(example, 0), (shop, 0)], now)
    assert _ksk_publish(same["shop."])[0] == planned_due


def test_at_the_dps_maximum_lifetime_the_later_roll_comes_forward(engine: Engine) -> None:
    """DPS 6.4: 365 days is the most a KSK signs, so a roll cannot wait; the later zone's
    comes forward the stagger days instead (decision 68), every DS change of the two
    zones stays 7 days from the other's through two whole rolls each, and no KSK signs
    longer than the maximum. Both managers carry the stagger hook, as the cycle's do."""
    policy = dataclasses.replace(load_policy(), backup_before_use=False)
    clock = FakeClock(T0)
    store = MemoryKeyStore()
    timing = TimingParams.from_policy(policy)
    zones = [ZonePlanning(o, policy, timing, 7) for o in ("example.", "shop.")]
    example = KeyManager(engine, store, policy, clock, origin="example",
                         stagger=stagger_hook(engine, zones, "example.", clock))  # fmt: skip
    shop = KeyManager(engine, store, policy, clock, origin="shop", zone_id=2,
                      stagger=stagger_hook(engine, zones, "shop.", clock))  # fmt: skip
    example.bootstrap("init example.")
    shop.bootstrap("zone add shop.")
    alone = shop.plan(T0 + DAY, alone=True)
    due, names = _ksk_publish(shop.plan(T0 + DAY))
    assert due is not None and _ksk_publish(alone)[0] == due + 7 * DAY
    assert names[0] == "ksk-stagger"
    step = next(s for s in shop.plan(T0 + DAY).steps
                if s.action is Action.PUBLISH and s.role is Role.KSK)  # fmt: skip
    assert step.waiting_for.description.startswith("KSK roll of shop. comes forward to ")
    assert _ksk_publish(example.plan(T0 + DAY)) == _ksk_publish(example.plan(T0 + DAY, alone=True))

    # Leap the clock from one due time to the next through two rolls of each zone; the
    # parent confirms a DS change two days after it is asked.
    parent = 2 * DAY
    end = T0 + 800 * DAY
    while clock.now() < end:
        now = clock.now()
        wakes: list[datetime] = [end]
        for km in (example, shop):
            km.run_due()
            for k in km.key_records():
                if k.role is not Role.KSK:
                    continue
                if k.ds_submitted and not k.ds_seen and not k.ds_withdrawal_requested:
                    if now >= k.ds_submitted + parent:
                        km.ds_seen(str(k.key_tag), "the parent serves it")
                    else:
                        wakes.append(k.ds_submitted + parent)
                if k.ds_withdrawal_requested and not k.ds_withdrawn:
                    if now >= k.ds_withdrawal_requested + parent:
                        km.ds_gone(str(k.key_tag), "the parent removed it")
                    else:
                        wakes.append(k.ds_withdrawal_requested + parent)
            wakes += [s.due for s in km.plan().steps if s.due is not None and s.due > now]
        clock.set(max(min(wakes), now + timedelta(minutes=1)))

    def changes(km: KeyManager) -> list[datetime]:
        ksks = [k for k in km.key_records() if k.role is Role.KSK]
        asked = [k.ds_submitted for k in ksks[1:]] + [k.ds_withdrawal_requested for k in ksks]
        return sorted(t for t in asked if t is not None)

    ours, theirs = changes(shop), changes(example)
    assert len(ours) >= 4 and len(theirs) >= 4  # two rolls each: submissions, withdrawals
    assert all(abs(a - b) >= 7 * DAY for a in ours for b in theirs)
    for km in (example, shop):
        for k in km.key_records():
            if k.role is Role.KSK and k.active is not None and k.retired is not None:
                assert k.retired - k.active <= timedelta(days=365)  # DPS 6.4


def test_a_roll_a_person_asks_for_is_never_moved(engine: Engine) -> None:
    """'keys rollover --ksk --zone X' in both zones the same day: both roll now, neither
    staggered (decision 57), though they fall together."""
    policy = dataclasses.replace(load_policy(), backup_before_use=False)
    clock = FakeClock(T0)
    store = MemoryKeyStore()
    timing = TimingParams.from_policy(policy)
    zones = [ZonePlanning(o, policy, timing, 7) for o in ("example.", "shop.")]
    managers = [
        KeyManager(
            engine,
            store,
            policy,
            clock,
            origin=o,
            zone_id=i,
            stagger=stagger_hook(engine, zones, o, clock),
        )
        for i, o in ((1, "example."), (2, "shop."))
    ]
    for km in managers:
        km.bootstrap("first keys")
    clock.set(T0 + 30 * DAY)
    for km in managers:
        km.request_rollover(Role.KSK, "asked by a person")
    submits = set()
    for km in managers:
        steps = km.plan().steps
        assert not [c for s in steps for c in s.constraints if c.name == "ksk-stagger"]
        submits |= {s.due for s in steps if s.action is Action.SUBMIT_DS}
        new = max((k for k in km.key_records() if k.role is Role.KSK), key=lambda k: k.created)
        assert new.published == T0 + 30 * DAY
    assert len(submits) == 1  # the two DS go to the parent together, as asked
