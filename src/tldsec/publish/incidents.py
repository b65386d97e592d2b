"""Incident notices for the public from the audit log (DPS 2, 4.5.1).

An incident is an audit entry of one of ``INCIDENT_EVENTS``; it ends with the first
later entry of its closing event (a zone published after a failed cycle, the clock
synchronised again, every HSM proven again). The notice says what happened in the
catalogue's words and when it began and ended, never the entry's details (which may
name hosts, files or people).

Pure: takes entries, returns notices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tldsec.audit.entry import Entry, format_time
from tldsec.audit.events import EventType

PUBLISHED = "zone.published"
# event -> the event that ends it
INCIDENT_EVENTS: dict[str, str] = {
    "zone.verification_failed": PUBLISHED,
    "zone.publish_failed": PUBLISHED,
    "zone.integrity_failed": PUBLISHED,
    "cycle.failed": PUBLISHED,
    "cycle.held": PUBLISHED,
    "signer.run_failed": PUBLISHED,
    "system.crash": PUBLISHED,
    "system.hardware_failure": PUBLISHED,
    "hsm.failure": PUBLISHED,
    "key.emergency_rollover": PUBLISHED,
    "audit.verification_failed": "audit.verified",
    "clock.unsynchronised": "clock.synchronised",
    "hsm.replica_mismatch": "hsm.replica_proven",
}


@dataclass(frozen=True, slots=True)
class Incident:
    """One public incident notice."""

    seq: int  # the audit entry that opened it
    event: str
    begun: datetime
    description: str
    level: str
    ended: datetime | None = None
    ended_by: str | None = None  # the closing event
    serial: int | None = None  # the zone serial published when it ended

    @property
    def key(self) -> str:
        return f"incident-{self.seq}"

    @property
    def is_open(self) -> bool:
        return self.ended is None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.key,
            "event": self.event,
            "description": self.description,
            "level": self.level,
            "begun": format_time(self.begun),
            "ended": format_time(self.ended) if self.ended else None,
            "ended_by": self.ended_by,
            "serial": self.serial,
        }


def incidents(entries: Iterable[Entry]) -> list[Incident]:
    """Every incident in ``entries`` (oldest first) and how it ended, if it did."""
    found: list[Incident] = []
    open_by_closer: dict[str, list[int]] = {}
    for e in entries:
        closes = open_by_closer.pop(e.event, [])
        for i in closes:
            serial = e.details.get("serial")
            found[i] = _ended(found[i], e.time, e.event, serial)
        closer = INCIDENT_EVENTS.get(e.event)
        if closer is not None:
            open_by_closer.setdefault(closer, []).append(len(found))
            found.append(
                Incident(
                    seq=e.seq,
                    event=e.event,
                    begun=e.time,
                    description=EventType(e.event).info.description,
                    level=str(e.level),
                )
            )
    return found


def _ended(incident: Incident, when: datetime, by: str, serial: object) -> Incident:
    return Incident(
        seq=incident.seq,
        event=incident.event,
        begun=incident.begun,
        description=incident.description,
        level=incident.level,
        ended=when,
        ended_by=by,
        serial=serial if isinstance(serial, int) and not isinstance(serial, bool) else None,
    )
