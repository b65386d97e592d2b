"""The SOA serial: strictly increasing across builds, stored in the registry database.

Each build takes ``max(last + 1, now as Unix seconds)`` (RFC 1982 serial arithmetic
never sees it go backwards; a serial at least tells when it was made). The allocation
is its own short transaction, so a build that is later discarded leaves a gap, never
a repeat.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tldsec.clock import to_epoch
from tldsec.registry.models import ZoneSerial

MAX_SERIAL = 2**32 - 1


def allocate_serial(session: Session, now: datetime, *, at_least: int = 0) -> int:
    """The next serial; ``at_least`` lets a caller continue from a zone file's serial."""
    row = session.scalar(select(ZoneSerial).where(ZoneSerial.id == 1).with_for_update())
    last = row.serial if row else 0
    serial = max(last + 1, to_epoch(now), at_least)
    if serial > MAX_SERIAL:
        raise ValueError(f"SOA serial would exceed 2^32-1 ({serial}); see RFC 1982")
    if row is None:
        session.add(ZoneSerial(id=1, serial=serial, built_at=now))
    else:
        row.serial, row.built_at = serial, now
    session.flush()
    return serial
