"""Guards against collapse: a zone that suddenly loses its delegations is held, not
published (DPS 3.5.2, 6.6: one fault never empties the TLD).

After the build, the new unsigned zone is measured (delegations, DS RRsets, bytes) and
compared with the zone last published. It is held when it

* loses more than ``max_delegation_loss`` of its delegations or ``max_ds_loss`` of its
  DS RRsets (default 1 % each), or any of them down to none;
* changes size by more than ``max_size_change`` (default 10 %).

Changes no larger than ``min_count`` delegations or DS RRsets and ``min_bytes`` bytes
are never held (a small zone's ordinary day), except a loss down to none, which always
is. A held change is identified by ``HeldChange.id``, a digest of the serial distributed
and the numbers before and after: the operator publishes it with ``tldsec cycle
--accept-change ID``, which holds for exactly that change (the registry unchanged since).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from tldsec.errors import ConfigError


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """The ``[cycle]`` keys of the collapse guards (shares are 0..1)."""

    max_delegation_loss: float = 0.01
    max_ds_loss: float = 0.01
    max_size_change: float = 0.10
    min_count: int = 10
    min_bytes: int = 100_000

    def __post_init__(self) -> None:
        for name in ("max_delegation_loss", "max_ds_loss", "max_size_change"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ConfigError(f"[cycle] {name} must be a share between 0 and 1, not {value}")
        if self.min_count < 0 or self.min_bytes < 0:
            raise ConfigError("[cycle] min_count and min_bytes must be >= 0")


@dataclass(frozen=True, slots=True)
class Measure:
    """What the guards compare: the unsigned zone's delegations, DS RRsets and bytes."""

    delegations: int
    with_ds: int
    size: int

    @classmethod
    def from_stats(cls, stats: dict[str, Any] | None) -> Measure | None:
        """From a published cycle's statistics (None: no published cycle measured; a
        size of 0, which no size guard compares with, from before sizes were kept)."""
        if not stats or "delegations" not in stats:
            return None
        return cls(
            int(stats["delegations"]),
            int(stats.get("with_ds", 0)),
            int(stats.get("unsigned_bytes", 0)),
        )


@dataclass(frozen=True, slots=True)
class HeldChange:
    """A change the guards stopped: its id, the numbers and why."""

    id: str
    distributed: int | None
    before: Measure
    after: Measure
    reasons: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["reasons"] = list(self.reasons)
        return data

    def describe(self) -> str:
        return (
            f"change {self.id} held: {'; '.join(self.reasons)}; publish it only if it is "
            f"meant: 'tldsec cycle --accept-change {self.id}'"
        )


def change_id(distributed: int | None, before: Measure, after: Measure) -> str:
    material = json.dumps(
        [distributed, before.delegations, after.delegations, before.with_ds, after.with_ds]
    )
    return hashlib.sha256(material.encode()).hexdigest()[:12]


def check(
    before: Measure | None, after: Measure, distributed: int | None, settings: GuardSettings
) -> HeldChange | None:
    """The held change, or None when the new zone may be published."""
    if before is None:
        return None  # the first zone: nothing to lose
    reasons = [
        *_loss("delegations", before.delegations, after.delegations, settings),
        *_loss("DS RRsets", before.with_ds, after.with_ds, settings),
    ]
    grown = abs(after.size - before.size)
    if before.size and grown > settings.min_bytes:
        share = grown / before.size
        if share > settings.max_size_change:
            reasons.append(
                f"the unsigned zone changes from {before.size:,} to {after.size:,} bytes "
                f"({share:.1%}, more than max_size_change {settings.max_size_change:.1%})"
            )
    if not reasons:
        return None
    return HeldChange(
        change_id(distributed, before, after), distributed, before, after, tuple(reasons)
    )


def _loss(what: str, before: int, after: int, settings: GuardSettings) -> list[str]:
    if after >= before:
        return []
    if after == 0:
        return [f"all {before:,} {what} would go (never published without an operator)"]
    lost = before - after
    limit = settings.max_delegation_loss if what == "delegations" else settings.max_ds_loss
    share = lost / before
    if lost <= settings.min_count or share <= limit:
        return []
    return [
        f"{lost:,} of {before:,} {what} would go ({share:.1%}, more than "
        f"{'max_delegation_loss' if what == 'delegations' else 'max_ds_loss'} {limit:.1%})"
    ]
