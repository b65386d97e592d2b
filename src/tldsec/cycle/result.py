"""What one cycle did: its ``Outcome`` and ``CycleResult``, and ``RunLog``, the
book-keeping of a cycle in progress (stage timings, counters)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tldsec.cycle.trace import Included


class Outcome(StrEnum):
    """How a cycle ended."""

    PUBLISHED = "published"  # a new verified serial is distributed
    UNCHANGED = "unchanged"  # nothing to do: the distributed serial stays
    REFUSED = "refused"  # the candidate failed verification: the previous serial stays
    HELD = "held"  # the collapse guards held the change for an operator: the previous stays
    FAILED = "failed"  # a stage failed: the previous serial stays


@dataclass(frozen=True, slots=True)
class CycleResult:
    """What one cycle did, as ``tldsec cycle`` prints it and ``tldsec status`` shows it."""

    outcome: Outcome
    reason: str
    started: str  # ISO 8601 UTC
    seconds: float
    distributed: int | None  # the serial distributed after the cycle
    serial: int | None = None  # the serial this cycle built (None: none built)
    stage: str | None = None  # where a failed cycle stopped
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    transitions: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.PUBLISHED, Outcome.UNCHANGED)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = str(self.outcome)
        data["transitions"] = list(self.transitions)
        return data

    def summary(self) -> str:
        head = f"cycle {self.outcome}: {self.reason}"
        if self.outcome is Outcome.PUBLISHED:
            s = self.stats
            head = (
                f"cycle published serial {self.serial} ({self.reason}): "
                f"{s.get('delegations', 0):,} delegations, {s.get('signatures_made', 0):,} "
                f"signatures made, {s.get('signatures_reused', 0):,} reused, "
                f"{s.get('changes', 0):,} records changed"
            )
        elif self.outcome in (Outcome.REFUSED, Outcome.FAILED):
            head += f" (stage {self.stage}); serial {self.distributed} stays distributed"
        elif self.outcome is Outcome.HELD:
            head = f"cycle held: {self.error}; serial {self.distributed} stays distributed"
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in self.timings.items())
        return f"{head}\n  {self.seconds:.2f} s" + (f" ({stages})" if stages else "")


@dataclass
class RunLog:
    """Book-keeping of one cycle in progress: stage timings and counters."""

    started: datetime
    t0: float
    distributed: int | None
    serial: int | None = None
    stage: str | None = None
    stage_t0: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    transitions: tuple[str, ...] = ()
    # The change trace (decision 51): when each stage ended, and the changes built in.
    marks: list[tuple[str, datetime]] = field(default_factory=list)
    included: Included | None = None

    def enter(self, stage: str) -> None:
        self._close_stage()
        self.stage, self.stage_t0 = stage, time.perf_counter()

    def _close_stage(self) -> None:
        if self.stage is not None and self.stage not in self.timings:
            self.timings[self.stage] = round(time.perf_counter() - self.stage_t0, 3)

    def result(self, outcome: Outcome, reason: str, error: str | None = None) -> CycleResult:
        self._close_stage()
        published = outcome is Outcome.PUBLISHED
        return CycleResult(
            outcome=outcome,
            reason=reason,
            started=self.started.isoformat(),
            seconds=round(time.perf_counter() - self.t0, 3),
            distributed=self.serial if published else self.distributed,
            serial=self.serial,
            stage=None if published or outcome is Outcome.UNCHANGED else self.stage,
            error=error,
            timings=dict(self.timings),
            stats=dict(self.stats),
            transitions=self.transitions,
        )
