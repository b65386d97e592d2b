"""Staggered KSK rolls: two zones' DS changes at the parent kept apart (decision 57, 62).

Each zone's planner plans alone; this module takes every zone's next planned KSK roll
(the dates its DS goes to the parent and its old DS leaves it) and delays a scheduled
roll whose DS submission or withdrawal falls within ``ksk_stagger_days`` of another
zone's by the least whole days that clear it. An emergency roll (DPS 4.5.3) is never
delayed; a scheduled roll is never delayed past its ``latest`` day (the DPS maximum
KSK lifetime, DPS 6.4): when no delay up to it clears, it rolls as planned and the
reason says with whom it falls together.

Rolls are placed in order of their first DS event (then origin): emergencies first, as
they are, then each scheduled roll around those already placed. Two dates clash when
they are less than the window apart (exactly ``ksk_stagger_days`` days apart is clear);
the window is the delayed zone's own, so ``ksk_stagger_days = 0`` never waits.

Pure: no clock, no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

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
    delay_days: int
    events: tuple[tuple[DsEvent, datetime], ...]  # the roll's DS events after the delay
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
    """The latest other zone's DS event less than ``window`` from one of ``events``."""
    if window <= timedelta(0):
        return None
    found: tuple[Stagger, DsEvent, datetime] | None = None
    for _, at in events:
        for other in placed:
            for kind, theirs in other.events:
                if abs(at - theirs) < window and (found is None or theirs > found[2]):
                    found = (other, kind, theirs)
    return found


def _place(roll: PlannedRoll, placed: Sequence[Stagger]) -> Stagger:
    window = timedelta(days=roll.stagger_days)
    first = _clash(roll.events, placed, window)
    if roll.emergency or first is None:
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
    other, kind, theirs = first
    limit = f"{roll.latest:%Y-%m-%d}" if roll.latest is not None else "its maximum lifetime"
    reason = (
        f"KSK roll of {roll.origin} cannot wait past {limit} (the maximum KSK lifetime, "
        f"DPS 6.4) and falls together: {kind.says(other.origin, theirs)}"
    )
    return Stagger(roll.origin, 0, roll.events, reason, forced_together=True)


def stagger(rolls: Iterable[PlannedRoll]) -> dict[str, Stagger]:
    """Each zone's roll after staggering, by origin (one roll per origin)."""
    rolls = list(rolls)
    origins = [r.origin for r in rolls]
    if len(set(origins)) != len(origins):
        raise ValueError("one planned KSK roll per zone")
    order = sorted(rolls, key=lambda r: (not r.emergency, r.first, r.origin))
    placed: list[Stagger] = []
    for roll in order:
        placed.append(_place(roll, placed))
    return {s.origin: s for s in placed}
