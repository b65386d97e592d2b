"""The SOA serial: strictly increasing across a zone's builds, stored in the registry
database, one ``zone_serial`` row per zone (its ``id`` is the zone's id, decision 60).

Each build takes ``max(last + 1, now as Unix seconds)`` (RFC 1982 serial arithmetic
never sees it go backwards; a serial at least tells when it was made). The allocation
is its own short transaction, so a build that is later discarded leaves a gap, never
a repeat. Each zone's row is locked alone: two zones' cycles never wait for each other's
serial, and their serials are independent (decision 57).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tldsec.clock import to_epoch
from tldsec.registry.models import ZoneSerial

MAX_SERIAL = 2**32 - 1


def allocate_serial(session: Session, zone_id: int, now: datetime, *, at_least: int = 0) -> int:
    """The next serial of the zone ``zone_id`` (the registry's ``zone.id``); ``at_least``
    lets a caller continue from a zone file's serial."""
    row = session.scalar(select(ZoneSerial).where(ZoneSerial.id == zone_id).with_for_update())
    last = row.serial if row else 0
    serial = max(last + 1, to_epoch(now), at_least)
    if serial > MAX_SERIAL:
        raise ValueError(f"SOA serial would exceed 2^32-1 ({serial}); see RFC 1982")
    if row is None:
        session.add(ZoneSerial(id=zone_id, serial=serial, built_at=now))
    else:
        row.serial, row.built_at = serial, now
    session.flush()
    return serial
