"""Whether the kernel says the system clock is synchronised (DPS 5.7), for anomaly entries.

This reads the clock's *status*, never the time: on Linux ``adjtimex(2)`` with
``modes = 0`` is a read-only query any user may make. It returns ``TIME_ERROR`` (5) or
sets ``STA_UNSYNC`` in ``status`` while no time daemon (chrony, ntpd, systemd-timesyncd)
has disciplined the clock. Elsewhere the status is unknown and nothing is recorded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from enum import StrEnum
from typing import Protocol

TIME_ERROR = 5  # adjtimex(2) return value: clock not synchronised
STA_UNSYNC = 0x0040  # timex.status bit: clock not synchronised


class SyncState(StrEnum):
    SYNCHRONISED = "synchronised"
    UNSYNCHRONISED = "unsynchronised"
    UNKNOWN = "unknown"


class ClockStatusProbe(Protocol):
    """Tells whether the clock is synchronised; the writer asks it now and then."""

    def state(self) -> SyncState: ...


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h> (glibc, 64-bit and 32-bit alike: longs and ints,
    # then eleven reserved ints).
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


def interpret_adjtimex(result: int, status: int) -> SyncState:
    """The sync state from adjtimex's return value and ``timex.status``."""
    if result < 0:
        return SyncState.UNKNOWN
    if result == TIME_ERROR or status & STA_UNSYNC:
        return SyncState.UNSYNCHRONISED
    return SyncState.SYNCHRONISED


class KernelClockStatus:
    """The Linux kernel's view, via ``adjtimex(2)``; UNKNOWN on other systems."""

    def __init__(self) -> None:
        self._adjtimex = None
        if sys.platform.startswith("linux"):
            name = ctypes.util.find_library("c")
            if name is not None:
                libc = ctypes.CDLL(name, use_errno=True)
                self._adjtimex = getattr(libc, "adjtimex", None)

    def state(self) -> SyncState:
        if self._adjtimex is None:
            return SyncState.UNKNOWN
        timex = _Timex()  # modes = 0: read only
        result = int(self._adjtimex(ctypes.byref(timex)))
        return interpret_adjtimex(result, timex.status)


class FixedClockStatus:
    """A probe that reports what it is told: for tests."""

    def __init__(self, state: SyncState = SyncState.SYNCHRONISED) -> None:
        self.current = state

    def state(self) -> SyncState:
        return self.current
