"""One zone's cycles in ``tldsec serve`` (decision 57, "Cycles per zone"): its settings
narrowed to it (decision 64), its ``Scheduler``, its checker ``Cycle`` and its running
child. Whatever happens to one zone's cycle (a failure, a held change, a refused gate, a
timeout, an HSM error) is in that zone's state alone; the others publish on.

``full_sign_reason`` says whether a zone's next cycle will sign or verify the whole zone,
the work the fair scheduler (``cycle/schedule.py``, ``CycleSlots``) lets run only
``[cycle] full_signs`` at a time and at a lower CPU priority.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tldsec.zonefiles import ZoneFiles, load_state

if TYPE_CHECKING:
    from tldsec.cycle import Cycle, Pending
    from tldsec.cycle.schedule import Scheduler
    from tldsec.settings import Settings

# What ``Cycle.pending`` finds that makes the next cycle sign in full: no zone to patch
# (first, interrupted, integrity), new keys, policy or apex (config: the signing keys or
# NSEC3 parameters change, which ``signer/incremental.py`` cannot patch), a key step
# (it may change the zone signing keys: counted as full, at worst it waits for the full
# sign's place). Registry changes and signature refreshes are patched.
FULL_SIGN_KINDS = frozenset({"first", "interrupted", "integrity", "config", "keys"})


@dataclass
class ZoneCycles:
    """One zone's part of the scheduler: what ``CycleRunner`` runs and /health reports."""

    origin: str
    settings: Settings  # narrowed to the zone (``Settings.for_zone``)
    zone_argv: tuple[str, ...] = ()  # ("--zone", origin) in a home of several zones
    scheduler: Scheduler | None = None
    checker: Cycle | None = None  # its ``pending``, without HSM or audit log
    child: asyncio.subprocess.Process | None = None
    # Why the running child was stopped on purpose (the lease lost), or None.
    stopped_for: str | None = None
    full: str | None = None  # why the running (or waiting) cycle signs in full

    def report(self, slot: str | None) -> dict[str, Any]:
        """This zone's entry in /health (``zones``)."""
        scheduler = self.scheduler
        return {
            "pending": scheduler.last_pending if scheduler else None,
            "scheduler_error": scheduler.last_error if scheduler else None,
            "held": scheduler.held if scheduler else None,
            "last_cycle": scheduler.last if scheduler else None,
            "cycle": slot,  # running, waiting (for a place), or None
            "full_sign": self.full if slot else None,
        }


def full_sign_reason(cycle: Cycle, due: Pending | None, now: datetime) -> str | None:
    """Why this zone's next cycle will sign or verify the whole zone (None: it patches
    the zone published last). ``due`` is the work the scheduler found (None: a cycle
    requested or retried, for which ``pending`` is asked again)."""
    pending = due if due is not None else cycle.pending(now)
    if pending is not None and pending.kind in FULL_SIGN_KINDS:
        return pending.reason
    current = cycle.store.current()
    if current is None:
        return "no zone distributed yet"
    files = ZoneFiles(cycle.store.zone_path(current))
    if not files.index.exists():
        return f"serial {current} has no index to patch"
    # The gate's own rule (verify/mode.py): a full verification is due by age or count.
    state = load_state(files.verify_state)
    if state is None:
        return f"serial {current} has no verification record"
    options = cycle.verify
    full_at = datetime.fromisoformat(state.full_at.replace("Z", "+00:00"))
    if now - full_at >= timedelta(hours=options.full_every_hours):
        return "a full verification is due ([verify] full_every_hours)"
    if options.full_every_cycles and state.since_full + 1 >= options.full_every_cycles:
        return "a full verification is due ([verify] full_every_cycles)"
    return None
