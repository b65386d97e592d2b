"""keys/stagger.py: two zones' KSK rolls kept ksk_stagger_days apart (decisions 57, 62),
delayed, or advanced where the maximum lifetime leaves no room to delay (decision 68)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tldsec.keys.stagger import DsEvent, PlannedRoll, Stagger, stagger

T0 = datetime(2027, 3, 1, 12, 0)
SUB, WD = DsEvent.SUBMISSION, DsEvent.WITHDRAWAL


def roll(
    origin: str,
    day: float,
    *,
    withdrawal_after: float | None = None,
    emergency: bool = False,
    latest_day: float | None = None,
    window: int = 7,
    earliest_day: float | None = None,
) -> PlannedRoll:
    events: list[tuple[DsEvent, datetime]] = [(SUB, T0 + timedelta(days=day))]
    if withdrawal_after is not None:
        events.append((WD, T0 + timedelta(days=day + withdrawal_after)))
    latest = None if latest_day is None else T0 + timedelta(days=latest_day)
    earliest = None if earliest_day is None else T0 + timedelta(days=earliest_day)
    return PlannedRoll(origin, tuple(events), emergency, latest, window, earliest=earliest)


def test_a_roll_within_the_window_waits_the_least_whole_days_with_the_reason() -> None:
    out = stagger([roll("example.", 4), roll("shop.", 8)])
    assert out["example."].delay_days == 0
    assert out["shop."].delay_days == 3  # 4 + 7 = 11 = 8 + 3
    assert out["shop."].reason == (
        "KSK roll of shop. waits until 2027-03-12: example.'s DS goes to the parent on 2027-03-05"
    )


def test_rolls_a_window_apart_do_not_wait() -> None:
    out = stagger([roll("example.", 0), roll("shop.", 7)])
    assert out["shop."] == Stagger("shop.", 0, out["shop."].events)
    assert out["shop."].reason is None


def test_a_withdrawal_clashes_like_a_submission() -> None:
    out = stagger([roll("example.", 0, withdrawal_after=40), roll("shop.", 38)])
    assert out["shop."].delay_days == 9  # clear of example.'s withdrawal on day 40
    assert out["shop."].reason is not None
    assert "example.'s old DS leaves the parent on 2027-04-10" in out["shop."].reason


def test_an_emergency_is_never_delayed_and_a_scheduled_roll_moves_around_it() -> None:
    out = stagger([roll("example.", 2), roll("shop.", 3, emergency=True)])
    assert out["shop."].delay_days == 0
    assert out["example."].delay_days == 8  # 3 + 7 = 10 = 2 + 8


def test_a_roll_that_cannot_wait_comes_forward_the_least_whole_days() -> None:
    out = stagger([roll("example.", 4), roll("shop.", 5, latest_day=9)])
    assert out["shop."].delay_days == -8  # 5 - 8 = -3, 7 days before example.'s day 4
    assert not out["shop."].forced_together
    assert out["shop."].reason == (
        "KSK roll of shop. comes forward to 2027-02-26: it cannot wait past 2027-03-10 (the "
        "maximum KSK lifetime, DPS 6.4) and example.'s DS goes to the parent on 2027-03-05"
    )


def test_the_same_day_at_the_maximum_lifetime_the_second_comes_forward_a_window() -> None:
    out = stagger([roll("shop.", 4, latest_day=4), roll("example.", 4, latest_day=4)])
    assert out["example."].delay_days == 0  # placed first (then by origin)
    assert out["shop."].delay_days == -7


def test_neither_later_nor_earlier_forces_the_two_together_and_says_so() -> None:
    out = stagger([roll("example.", 4), roll("shop.", 5, latest_day=9, earliest_day=1)])
    assert out["shop."].delay_days == 0
    assert out["shop."].forced_together
    assert out["shop."].reason == (
        "KSK roll of shop. cannot wait past 2027-03-10 (the maximum KSK lifetime, DPS 6.4) "
        "nor come earlier and falls together: example.'s DS goes to the parent on 2027-03-05"
    )


def test_stagger_days_zero_rolls_the_same_day() -> None:
    out = stagger([roll("example.", 4), roll("shop.", 4, window=0)])
    assert out["shop."].delay_days == 0 and out["shop."].reason is None


def test_one_zone_alone_keeps_its_day() -> None:
    assert stagger([roll("example.", 4)])["example."].delay_days == 0


def test_two_rolls_of_one_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="one planned KSK roll per zone"):
        stagger([roll("example.", 1), roll("example.", 2)])


@st.composite
def rolls(draw: st.DrawFn) -> list[PlannedRoll]:
    n = draw(st.integers(min_value=1, max_value=6))
    out = []
    for i in range(n):
        day = draw(st.floats(min_value=0, max_value=60, allow_nan=False))
        wd = draw(st.one_of(st.none(), st.floats(min_value=1, max_value=45)))
        latest = draw(st.one_of(st.none(), st.floats(min_value=0, max_value=120)))
        earliest = draw(st.one_of(st.none(), st.floats(min_value=0, max_value=60)))
        out.append(
            roll(
                f"z{i}.",
                day,
                withdrawal_after=wd,
                emergency=draw(st.booleans()),
                latest_day=None if latest is None else day + latest,
                window=draw(st.sampled_from([0, 1, 7, 14])),
                earliest_day=None if earliest is None else day - earliest,
            )
        )
    return out


@settings(max_examples=300, deadline=None)
@given(rolls())
def test_property_emergencies_never_delayed_and_scheduled_rolls_apart(
    planned: list[PlannedRoll],
) -> None:
    out = stagger(planned)
    by_origin = {r.origin: r for r in planned}
    for origin, s in out.items():
        r = by_origin[origin]
        assert s.events == r.shifted(s.delay_days)
        if r.emergency:
            assert s.delay_days == 0
        if r.latest is not None and s.delay_days > 0:
            assert s.first <= r.latest  # never past the maximum lifetime
        if s.delay_days < 0:
            # advanced only where waiting would pass the maximum lifetime (decision 68)
            assert r.latest is not None and not r.emergency
            if r.earliest is not None:
                assert s.first >= r.earliest  # never before its new KSK could be published
            assert s.reason is not None
            assert s.reason.startswith(f"KSK roll of {origin} comes forward")
        if s.forced_together:
            assert r.latest is not None and not r.emergency and s.delay_days == 0
        if s.delay_days > 0:
            assert s.reason is not None and s.reason.startswith(f"KSK roll of {origin} waits")
    # No two rolls within a delayed zone's window, unless the lifetime forced it (or the
    # zone's window is 0, or both are emergencies, which never wait).
    for a in out.values():
        ra = by_origin[a.origin]
        if ra.emergency or a.forced_together or ra.stagger_days == 0:
            continue
        window = timedelta(days=ra.stagger_days)
        for b in out.values():
            if b.origin == a.origin:
                continue
            rb = by_origin[b.origin]
            placed_before = rb.emergency or (rb.first, rb.origin) < (ra.first, ra.origin)
            if not placed_before:
                continue  # b moved around a, by b's own window
            for _, x in a.events:
                for _, y in b.events:
                    assert abs(x - y) >= window, (a, b)


@settings(max_examples=200, deadline=None)
@given(rolls())
def test_property_the_delay_is_the_least_that_clears(planned: list[PlannedRoll]) -> None:
    out = stagger(planned)
    by_origin = {r.origin: r for r in planned}
    for s in out.values():
        if s.delay_days == 0:
            continue
        r = by_origin[s.origin]
        window = timedelta(days=r.stagger_days)
        earlier = [
            o
            for o in out.values()
            if o.origin != s.origin
            and (
                by_origin[o.origin].emergency
                or (by_origin[o.origin].first, o.origin) < (r.first, r.origin)
            )
        ]
        # The least whole days either way: one day less still clashes.
        steps = range(s.delay_days) if s.delay_days > 0 else range(0, s.delay_days, -1)
        for days in steps:
            moved = r.shifted(days)
            assert any(
                abs(x - y) < window for _, x in moved for o in earlier for _, y in o.events
            ), (s, days)
        if s.delay_days < 0:
            # Advanced: no delay up to the maximum lifetime cleared (decision 68).
            assert r.latest is not None
            days = 1
            while min(at for _, at in r.shifted(days)) <= r.latest:
                moved = r.shifted(days)
                assert any(
                    abs(x - y) < window for _, x in moved for o in earlier for _, y in o.events
                ), (s, days)
                days += 1
