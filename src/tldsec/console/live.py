"""When a change is live: accepted (its zone-change row), in the zone (the last published
cycle's serial includes that row), served (the hidden primary's distribution store
points at that serial or a later one).

The cycle state (``zones/cycle.json``) records the newest zone-change row of the serial
it distributed; the distribution store's ``current`` names the serial the hidden primary
serves. Once serve has seen every secondary answer a serial that includes the change
(the change trace, decision 51: ``trace/live.py``), the state says so, with the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from tldsec.cycle.state import CycleState
from tldsec.distribute.store import ZoneStore, serial_gt
from tldsec.registry.models import ChangeTrace, SerialTrace


@dataclass(frozen=True, slots=True)
class LiveState:
    """One change's state, for the page: each stage as words, reached or not."""

    change_id: int
    in_zone_serial: int | None  # the serial of the last published cycle, if it includes it
    served_serial: int | None  # the serial the hidden primary serves, if it includes it
    live_serial: int | None = None  # the serial every secondary serves (the trace)
    live_at: datetime | None = None

    @property
    def stage(self) -> str:
        if self.live_serial is not None:
            return "live"
        if self.served_serial is not None:
            return "served"
        if self.in_zone_serial is not None:
            return "in zone"
        return "accepted"

    def describe(self) -> str:
        """What is known, after the stage's name (the page shows "STAGE: this")."""
        if self.live_serial is not None and self.live_at is not None:
            return (
                f"serial {self.live_serial}, which includes it, is served by every "
                f"secondary since {self.live_at:%Y-%m-%d %H:%M:%S} UTC"
            )
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

    def state(self, change_id: int, live: tuple[int, datetime] | None = None) -> LiveState:
        """The change's state; ``live``: the serial and time the trace found it served
        by every secondary (``traced_live``)."""
        if live is not None:
            return LiveState(change_id, live[0], live[0], live[0], live[1])
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


def traced_live(
    conn: Session | Connection, change_ids: list[int]
) -> dict[int, tuple[int, datetime]]:
    """For each change the trace found live: its first live serial and when (one query)."""
    if not change_ids:
        return {}
    rows = conn.execute(
        select(ChangeTrace.change_id, SerialTrace.serial, SerialTrace.at)
        .join(ChangeTrace, ChangeTrace.serial == SerialTrace.serial)
        .where(ChangeTrace.change_id.in_(change_ids), SerialTrace.stage == "live")
        .order_by(SerialTrace.at)
    )
    found: dict[int, tuple[int, datetime]] = {}
    for change_id, serial, at in rows:
        found.setdefault(change_id, (serial, at))
    return found
