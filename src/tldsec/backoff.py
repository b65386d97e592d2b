"""Back-off for retries: ``base`` while all is well, doubling on each failure in a row up
to a ceiling. One formula for serve's database probes, its HSM logins and the cycle
scheduler's checks and retries.
"""

from __future__ import annotations

from dataclasses import dataclass


def backoff_seconds(base: float, failures: int, ceiling: float) -> float:
    """The wait after ``failures`` failures in a row: ``base`` doubled that many times,
    at most ``ceiling`` (``base`` when nothing failed)."""
    if not failures:
        return float(base)
    return float(min(ceiling, base * 2 ** min(failures, 16)))


@dataclass
class Backoff:
    """Seconds to the next try, counting the failures in a row itself."""

    base: float
    ceiling: float = 60.0
    failures: int = 0

    def next(self, ok: bool) -> float:
        self.failures = 0 if ok else self.failures + 1
        return backoff_seconds(self.base, self.failures, self.ceiling)
