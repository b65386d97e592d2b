"""Incident notices for the public from the audit log (DPS 2, 4.5.1).

An incident is an audit entry of one of ``INCIDENT_EVENTS``; it ends with the first
later entry of its closing event (a zone published after a failed cycle, the clock
synchronised again, every HSM proven again). A published zone whose signatures expire
within the policy's safety margin (at publication, or by now with no newer zone) is one
too, ended by a zone published with a wider margin. The notice says what happened in the
catalogue's words and when it began and ended, never the entry's details (which may
name hosts, files or people).

Pure: takes entries, returns notices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
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


MARGIN_EVENT = "signature.margin"
MARGIN_DESCRIPTION = (
    "signatures of the published zone expire within the safety margin (DPS 3.5.2, 6.5)"
)


def incidents(
    entries: Iterable[Entry], now: datetime | None = None, margin: timedelta | None = None
) -> list[Incident]:
    """Every incident in ``entries`` (oldest first) and how it ended, if it did.

    With ``margin`` (the policy's ``cycle.safety_margin``), a published zone whose
    earliest signature expires within it, at its publication or by ``now`` (no newer
    zone published since), is an incident too; a later zone with a wider margin ends it."""
    found: list[Incident] = []
    open_by_closer: dict[str, list[int]] = {}
    low: int | None = None  # index of the open margin incident
    last: tuple[Entry, datetime] | None = None  # the newest publication and its expiry
    for e in entries:
        closes = open_by_closer.pop(e.event, [])
        for i in closes:
            serial = e.details.get("serial")
            found[i] = _ended(found[i], e.time, e.event, serial)
        expiry = _expiry(e) if margin is not None and e.event == PUBLISHED else None
        if expiry is not None and margin is not None:
            last = (e, expiry)
            if expiry - e.time <= margin and low is None:
                low = len(found)
                found.append(_margin_incident(e, e.time))
            elif expiry - e.time > margin and low is not None:
                found[low] = _ended(found[low], e.time, e.event, e.details.get("serial"))
                low = None
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
    if now is not None and margin is not None and low is None and last is not None:
        published, expiry = last
        begun = max(published.time, expiry - margin)
        if begun <= now:
            found.append(_margin_incident(published, begun))
    return sorted(found, key=lambda i: (i.begun, i.seq))


def _expiry(e: Entry) -> datetime | None:
    text = e.details.get("earliest_signature_expiry")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _margin_incident(published: Entry, begun: datetime) -> Incident:
    """Keyed by the publication whose signatures run short: one per such zone."""
    return Incident(
        seq=published.seq,
        event=MARGIN_EVENT,
        begun=begun,
        description=MARGIN_DESCRIPTION,
        level="error",
    )


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
