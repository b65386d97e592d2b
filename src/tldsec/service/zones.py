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
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tldsec.cycle.run import handed_over_note
from tldsec.service.probes import KeyFacts, ZoneProbe
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


def zone_probe(cycle: Cycle) -> ZoneProbe:
    """What the probes ask about ``cycle``'s zone (``probes.py``): its changes after the
    last one built, its keys' states and next timed step, its handover."""
    keys = cycle.keys

    def key_facts(now: datetime) -> KeyFacts:
        states: Counter[tuple[str, str]] = Counter()
        for record in keys.key_records():
            state = record.state_at(now)
            if state is not None:
                states[(str(record.role), str(state))] += 1
        timed = [s for s in keys.plan(now).steps if s.due is not None]
        first = min(timed, key=lambda s: s.due or now) if timed else None
        return states, first.due if first else None, first.describe() if first else None

    def handed_over(now: datetime) -> dict[str, str] | None:
        tr = keys.handed_over(now)
        if tr is None or tr.handed_over is None or tr.ended is None:
            return None
        return {
            "operator": tr.operator,
            "handed_over": tr.handed_over.isoformat(),
            "ended": tr.ended.isoformat(),
            "note": f"{handed_over_note(tr)}: no cycle runs; the zone is theirs",
        }

    return ZoneProbe(
        zone_id=cycle.zone_id,
        change_id=lambda: cycle.state().change_id,
        key_facts=key_facts,
        handed_over=handed_over,
    )
