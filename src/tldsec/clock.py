"""Time as a parameter: the only module that reads the system clock.

Everything else takes a ``Clock`` and asks it once per unit of work (one signing run,
one EPP transaction, one cycle), so the whole key schedule can run in simulation.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of the current time, always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock (DPS 5.7: synchronised to NTP by the operator)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to: for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("FakeClock does not run backwards; use set() to model a jump")
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FakeClock needs timezone-aware times")
        self._now = when.astimezone(UTC)


def to_epoch(when: datetime) -> int:
    """Seconds since 1970-01-01 UTC, as RRSIG timestamps count them (RFC 4034 3.1.5)."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: tldsec works in UTC only")
    return int(when.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def monotonic() -> float:
    """Seconds on a clock that never jumps (deadlines measured on this host, such as the
    publication lease's: decision 49)."""
    return time.monotonic()
