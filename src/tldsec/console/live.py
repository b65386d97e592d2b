"""When a change is live: accepted (its zone-change row), in the zone (the last published
cycle's serial includes that row), served (the hidden primary's distribution store
points at that serial or a later one).

The cycle state (``zones/cycle.json``) records the newest zone-change row of the serial
it distributed; the distribution store's ``current`` names the serial the hidden primary
serves. Neither records the secondaries' transfers (the primary keeps NOTIFY and
transfer results in memory only), so the console says "served by the hidden primary"
and no more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tldsec.cycle.state import CycleState
from tldsec.distribute.store import ZoneStore, serial_gt


@dataclass(frozen=True, slots=True)
class LiveState:
    """One change's state, for the page: each stage as words, reached or not."""

    change_id: int
    in_zone_serial: int | None  # the serial of the last published cycle, if it includes it
    served_serial: int | None  # the serial the hidden primary serves, if it includes it

    @property
    def stage(self) -> str:
        if self.served_serial is not None:
            return "served"
        if self.in_zone_serial is not None:
            return "in zone"
        return "accepted"

    def describe(self) -> str:
        """What is known, after the stage's name (the page shows "STAGE: this")."""
        if self.served_serial is not None:
            return (
                f"the hidden primary serves serial {self.served_serial}, which "
                "includes it (secondaries follow by NOTIFY and IXFR; their transfers are "
                "not recorded)"
            )
        if self.in_zone_serial is not None:
            return (
                f"serial {self.in_zone_serial} (signed and verified) includes it; "
                "not yet served by the hidden primary"
            )
        return "committed; waiting for the next zone cycle"


@dataclass(frozen=True, slots=True)
class LiveSource:
    """Where the cycle and the distribution leave their state."""

    cycle_state: Path  # zones/cycle.json
    store_dir: Path | None  # the distribution store ([distribute] store_dir)
    origin: str

    def state(self, change_id: int) -> LiveState:
        cycle = CycleState.load(self.cycle_state)
        if cycle.serial is None or cycle.change_id < change_id:
            return LiveState(change_id, None, None)
        served = None
        if self.store_dir is not None and self.store_dir.is_dir():
            current = ZoneStore(self.store_dir, self.origin).current()
            if current is not None and (
                current == cycle.serial or serial_gt(current, cycle.serial)
            ):
                served = current
        return LiveState(change_id, cycle.serial, served)
