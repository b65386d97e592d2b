"""A zone's registry changes as ``Cycle.pending`` asks about them (decision 65).

Change ids (``zone_change.id``) are one sequence for every zone of the registry; each
row names its zone. So a zone's last build is placed by a registry-wide id, and these
questions read only the zone's rows after it: another zone's change neither starts
this zone's cycle nor wakes a zone whose change is held (``cycle.guard``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tldsec.registry.models import ZoneChange


def oldest_change_after(session: Session, zone_id: int, change_id: int) -> datetime | None:
    """When the zone's oldest change after ``change_id`` was written (None: none)."""
    first = session.scalar(
        select(func.min(ZoneChange.id)).where(
            ZoneChange.id > change_id, ZoneChange.zone_id == zone_id
        )
    )
    if first is None:
        return None
    return session.scalar(select(ZoneChange.at).where(ZoneChange.id == first))


def changed_after(session: Session, zone_id: int, change_id: int) -> bool:
    """Whether the zone has a change after ``change_id`` (a held build's newest id)."""
    newer = session.scalar(
        select(ZoneChange.id)
        .where(ZoneChange.id > change_id, ZoneChange.zone_id == zone_id)
        .limit(1)
    )
    return newer is not None


def oldest_late_change(session: Session, zone_id: int, ids: Collection[int]) -> datetime | None:
    """When the oldest of the zone's changes among ``ids`` (those a build could not see
    yet, ``BuildInfo.unsettled``) was written, now that the registry shows it."""
    if not ids:
        return None
    return session.scalar(
        select(func.min(ZoneChange.at)).where(
            ZoneChange.id.in_(list(ids)), ZoneChange.zone_id == zone_id
        )
    )
