"""Staggered KSK rolls: two zones' DS changes at the parent kept apart (decision 57, 62).

Each zone's planner plans alone; this module takes every zone's next planned KSK roll
(the dates its DS goes to the parent and its old DS leaves it) and delays a scheduled
roll whose DS submission or withdrawal falls within ``ksk_stagger_days`` of another
zone's by the least whole days that clear it. An emergency roll (DPS 4.5.3) and a
roll a person asked for are never moved; a scheduled roll is never delayed past its
``latest`` day (the DPS maximum KSK lifetime, DPS 6.4): when no delay up to it clears,
it is advanced by the least whole days that clear it (decision 68: an earlier roll is
always within the DPS maximum; under the built-in policy, whose KSK lifetime is that
maximum, this is what staggering does), never before its ``earliest`` day (its new
KSK published now); when neither clears, it rolls as planned and the reason says with
whom it falls together.

Rolls are placed in order of their first DS event (then origin): emergencies and rolls
already started (their new KSK published) first, as they are, then each scheduled roll
around those already placed. Two dates clash when
they are less than the window apart (exactly ``ksk_stagger_days`` days apart is clear);
the window is the delayed zone's own, so ``ksk_stagger_days = 0`` never waits.

Pure: no clock, no database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from tldsec.dpsnumbers import DPS
from tldsec.keys import timing
from tldsec.keys.planner import Action, Constraint, Plan
from tldsec.keys.state import KeyRecord, KeyState, Role
from tldsec.policy import KeyPolicy

DEFAULT_STAGGER_DAYS = 7  # decision 57: `ksk_stagger_days` in [zones.NAME]


class DsEvent(StrEnum):
    """A change of the parent's DS RRset that a KSK roll asks for (RFC 7583 3.3)."""

    SUBMISSION = "submission"  # the successor's DS goes to the parent
    WITHDRAWAL = "withdrawal"  # the retired KSK's DS leaves the parent

    def says(self, origin: str, at: datetime) -> str:
        if self is DsEvent.SUBMISSION:
            return f"{origin}'s DS goes to the parent on {at:%Y-%m-%d}"
        return f"{origin}'s old DS leaves the parent on {at:%Y-%m-%d}"


@dataclass(frozen=True, slots=True)
class PlannedRoll:
    """One zone's next KSK roll as its planner sees it."""

    origin: str
    events: tuple[tuple[DsEvent, datetime], ...]
    emergency: bool = False
    latest: datetime | None = None  # the latest first DS event the lifetime allows
    stagger_days: int = DEFAULT_STAGGER_DAYS
    # Its new KSK is already published, or a person asked for the roll: it keeps its dates.
    started: bool = False
    earliest: datetime | None = None  # the earliest first DS event (a new KSK published now)

    @property
    def movable(self) -> bool:
        return not (self.emergency or self.started)

    def __post_init__(self) -> None:
        if not self.events:
            raise ValueError(f"the KSK roll of {self.origin} has no DS event to stagger")
        if self.stagger_days < 0:
            raise ValueError(f"ksk_stagger_days of {self.origin} is negative")

    @property
    def first(self) -> datetime:
        return min(at for _, at in self.events)

    def shifted(self, days: int) -> tuple[tuple[DsEvent, datetime], ...]:
        return tuple((kind, at + timedelta(days=days)) for kind, at in self.events)


@dataclass(frozen=True, slots=True)
class Stagger:
    """What the check decided for one zone's roll."""

    origin: str
    delay_days: int  # negative: advanced by that many days (decision 68)
    events: tuple[tuple[DsEvent, datetime], ...]  # the roll's DS events after the move
    reason: str | None = None  # None: the roll keeps its day and nothing clashes
    forced_together: bool = field(default=False)  # the lifetime forbade clearing a clash

    @property
    def first(self) -> datetime:
        return min(at for _, at in self.events)


def _clash(
    events: Iterable[tuple[DsEvent, datetime]],
    placed: Sequence[Stagger],
    window: timedelta,
) -> tuple[Stagger, DsEvent, datetime] | None:
    """The earliest other zone's DS event less than ``window`` from one of ``events``."""
    if window <= timedelta(0):
        return None
    found: tuple[Stagger, DsEvent, datetime] | None = None
    for _, at in events:
        for other in placed:
            for kind, theirs in other.events:
                if abs(at - theirs) < window and (found is None or theirs < found[2]):
                    found = (other, kind, theirs)
    return found


def _place(roll: PlannedRoll, placed: Sequence[Stagger]) -> Stagger:
    window = timedelta(days=roll.stagger_days)
    first = _clash(roll.events, placed, window)
    if not roll.movable or first is None:
        return Stagger(roll.origin, 0, roll.events)
    # No delay beyond the last placed event plus the window can still clash.
    last = max((at for s in placed for _, at in s.events), default=roll.first)
    bound = max(0, (last - roll.first).days + roll.stagger_days + 1)
    for days in range(1, bound + 1):
        moved = roll.shifted(days)
        start = min(at for _, at in moved)
        if roll.latest is not None and start > roll.latest:
            break
        if _clash(moved, placed, window) is None:
            blocker = _clash(roll.shifted(days - 1), placed, window)
            assert blocker is not None
            other, kind, theirs = blocker
            reason = (
                f"KSK roll of {roll.origin} waits until {start:%Y-%m-%d}: "
                f"{kind.says(other.origin, theirs)}"
            )
            return Stagger(roll.origin, days, moved, reason)
    advanced = _advance(roll, placed, window)
    if advanced is not None:
        return advanced
    other, kind, theirs = first
    limit = f"{roll.latest:%Y-%m-%d}" if roll.latest is not None else "its maximum lifetime"
    reason = (
        f"KSK roll of {roll.origin} cannot wait past {limit} (the maximum KSK lifetime, "
        f"DPS 6.4) nor come earlier and falls together: {kind.says(other.origin, theirs)}"
    )
    return Stagger(roll.origin, 0, roll.events, reason, forced_together=True)


def _advance(roll: PlannedRoll, placed: Sequence[Stagger], window: timedelta) -> Stagger | None:
    """The roll brought forward by the least whole days that clear every placed roll's
    DS events, not before its ``earliest`` day; None if none does (decision 68)."""
    first_placed = min((at for s in placed for _, at in s.events), default=roll.first)
    last_own = max(at for _, at in roll.events)
    bound = max(0, (last_own - first_placed).days + roll.stagger_days + 1)
    for days in range(1, bound + 1):
        moved = roll.shifted(-days)
        start = min(at for _, at in moved)
        if roll.earliest is not None and start < roll.earliest:
            return None
        if _clash(moved, placed, window) is None:
            blocker = _clash(roll.shifted(-(days - 1)), placed, window)
            assert blocker is not None
            other, kind, theirs = blocker
            limit = f"{roll.latest:%Y-%m-%d}" if roll.latest is not None else "its lifetime"
            reason = (
                f"KSK roll of {roll.origin} comes forward to {start:%Y-%m-%d}: it cannot wait "
                f"past {limit} (the maximum KSK lifetime, DPS 6.4) and "
                f"{kind.says(other.origin, theirs)}"
            )
            return Stagger(roll.origin, -days, moved, reason)
    return None


def stagger(rolls: Iterable[PlannedRoll]) -> dict[str, Stagger]:
    """Each zone's roll after staggering, by origin (one roll per origin)."""
    rolls = list(rolls)
    origins = [r.origin for r in rolls]
    if len(set(origins)) != len(origins):
        raise ValueError("one planned KSK roll per zone")
    order = sorted(rolls, key=lambda r: (r.movable, r.first, r.origin))
    placed: list[Stagger] = []
    for roll in order:
        placed.append(_place(roll, placed))
    return {s.origin: s for s in placed}


def planned_roll(
    origin: str,
    plan: Plan,
    keys: Sequence[KeyRecord],
    kp: KeyPolicy,
    t: timing.TimingParams,
    stagger_days: int = DEFAULT_STAGGER_DAYS,
) -> PlannedRoll | None:
    """A zone's next KSK roll as its plan shows it; None when it has no DS event ahead.

    Not yet started (a timed ``publish`` of a new KSK): its DS goes to the parent IpubC
    after the publication (RFC 7583 3.3.1), the switch comes ``max(pre-publish, IpubC +
    IpubP)`` after it, the old DS leaves Iret after the switch (3.3.2); it may wait
    until the switch reaches the DPS maximum KSK lifetime (DPS 6.4, 365 days). Started:
    its DS events as the plan and the facts date them, never moved.
    """
    steps = [s for s in plan.steps if s.role is Role.KSK and not s.algorithm_rollover]
    emergency = any(s.emergency for s in steps)
    publish = next((s for s in steps if s.action is Action.PUBLISH and s.due), None)
    active = [k for k in keys if k.role is Role.KSK and k.state_at(plan.now) is KeyState.ACTIVE]
    if publish is not None and publish.due is not None and active and not emergency:
        current = max(active, key=lambda k: k.active or plan.now)
        assert current.active is not None
        ipubc = timing.ksk_publish_interval(t)
        lead = max(kp.prepublish, ipubc + timing.ds_publish_interval(t))
        submission = publish.due + ipubc
        withdrawal = publish.due + lead + timing.ksk_retire_interval(t)
        longest = max(kp.lifetime, DPS.ksk.lifetime)  # DPS 6.4: "the maximum number of days"
        latest = current.active + longest - lead + ipubc
        events = ((DsEvent.SUBMISSION, submission), (DsEvent.WITHDRAWAL, withdrawal))
        # A roll a person asked for ('keys rollover --ksk') keeps its dates (decision 57).
        asked = current.rollover_requested is not None
        return PlannedRoll(origin, events, False, latest, stagger_days, started=asked,
                           earliest=plan.now + ipubc)  # fmt: skip
    timed: list[tuple[DsEvent, datetime]] = []
    for s in steps:
        if s.due is None:
            continue
        if s.action is Action.SUBMIT_DS and s.waiting_for.name != "no-ds":
            timed.append((DsEvent.SUBMISSION, s.due))
        elif s.action is Action.WITHDRAW_DS:
            timed.append((DsEvent.WITHDRAWAL, s.due))
        elif s.action is Action.PUBLISH and emergency:
            timed.append((DsEvent.SUBMISSION, s.due + timing.zone_propagation_interval(t)))
    # A roll under way keeps others away from the DS changes it already asked for.
    since = plan.now - timedelta(days=stagger_days)
    for k in keys:
        if k.role is not Role.KSK:
            continue
        if k.ds_submitted is not None and k.ds_submitted >= since and k.ds_seen is None:
            timed.append((DsEvent.SUBMISSION, k.ds_submitted))
        if k.ds_withdrawal_requested is not None and k.ds_withdrawal_requested >= since:
            timed.append((DsEvent.WITHDRAWAL, k.ds_withdrawal_requested))
    if not timed:
        return None
    return PlannedRoll(origin, tuple(timed), emergency, None, stagger_days, started=True)


def wait_constraint(decided: Stagger, plan: Plan) -> Constraint | None:
    """The visible gate a moved roll's ``publish`` step waits for (decision 57): the new
    KSK is published the same whole days later (or, advanced, earlier: decision 68) as
    its DS events."""
    if decided.delay_days == 0 or decided.reason is None:
        return None
    publish = next(
        (s for s in plan.steps if s.role is Role.KSK and s.action is Action.PUBLISH and s.due),
        None,
    )
    if publish is None or publish.due is None:
        return None
    return Constraint(
        "ksk-stagger", decided.reason, publish.due + timedelta(days=decided.delay_days)
    )


def against(
    origin: str,
    others: Sequence[tuple[str, Sequence[tuple[DsEvent, datetime]]]],
    kp: KeyPolicy,
    t: timing.TimingParams,
    stagger_days: int = DEFAULT_STAGGER_DAYS,
) -> Callable[[Plan, Sequence[KeyRecord]], Constraint | None]:
    """A plan's ``ksk-stagger`` wait for ``origin`` against other zones' DS events that
    are already fixed (``keys simulate`` of several zones: each zone against those
    simulated before it, in the home's order; decision 68)."""
    fixed = [
        PlannedRoll(other, tuple(events), stagger_days=stagger_days, started=True)
        for other, events in others
        if events and other != origin
    ]

    def wait(plan: Plan, keys: Sequence[KeyRecord]) -> Constraint | None:
        roll = planned_roll(origin, plan, keys, kp, t, stagger_days)
        if roll is None or not roll.movable or not fixed:
            return None
        return wait_constraint(stagger([roll, *fixed])[origin], plan)

    return wait
