"""The registrars' DS changes every secondary serves, from the registry's trace: what the
"ds-live" notice says (decision 51's fact, mailed as decision 56 says).

A change is traced into the serials that included it (``change_trace``); the live pass
records when every secondary served a serial (``serial_trace`` stage ``live``) and queues
the change's poll message then. The notice carries the same fact, from the same rows: the
change's first live serial and that serial's live time. Only changes whose history row
added or removed a DS are DS changes; the records come from that row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from tldsec.notify.notices import ServedChange
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.models import (
    ChangeTrace,
    HistoryEntry,
    Registrar,
    SerialTrace,
    Zone,
    ZoneChange,
)

_T = TypeVar("_T")
BATCH = 500  # serials, ids or names per statement (SQLite's parameter limit stays far)


def served_ds_changes(db: RegistryDatabase, since: datetime) -> list[ServedChange]:
    """Every registrar DS change in a serial of its zone that went live at or after
    ``since``: zone by zone, as two zones' serials may share numbers (decision 72)."""
    with db.read() as session:
        first: dict[int, tuple[int, datetime]] = {}  # change id -> (serial, live at)
        changes: dict[int, tuple[ZoneChange, str]] = {}
        # A registry without zone rows (before its first cycle) has zone 1's only.
        zone_ids = list(session.scalars(select(Zone.id).order_by(Zone.id))) or [1]
        for zone_id in zone_ids:
            live = _live_serials(session, zone_id, since)
            for chunk in _chunks(sorted(live)):
                rows = session.execute(
                    select(ZoneChange, ChangeTrace.serial, Registrar.client_id)
                    .join(ChangeTrace, ChangeTrace.change_id == ZoneChange.id)
                    .join(Registrar, Registrar.id == ZoneChange.registrar_id)
                    .where(
                        ZoneChange.zone_id == zone_id,
                        ChangeTrace.serial.in_(chunk),
                        ZoneChange.sv_trid.is_not(None),
                    )
                )
                for change, serial, client_id in rows:
                    at = live[serial]
                    if change.id not in first or serial < first[change.id][0]:
                        first[change.id] = (serial, at)
                    changes[change.id] = (change, client_id)
        records = _ds_records(session, [c for c, _ in changes.values()])
    out: list[ServedChange] = []
    for change_id in sorted(changes):
        change, client_id = changes[change_id]
        found = records.get((str(change.sv_trid), change.name))
        if found is None:
            continue  # not a DS change (name servers, statuses)
        serial, at = first[change_id]
        out.append(
            ServedChange(
                sv_trid=str(change.sv_trid),
                registrar=client_id,
                domain=change.name,
                serial=serial,
                accepted_at=change.at,
                live_at=at,
                added=found[0],
                removed=found[1],
            )
        )
    return out


def _live_serials(session: Session, zone_id: int, since: datetime) -> dict[int, datetime]:
    """serial -> live time of the zone's serials live since ``since``: newest first by the
    primary key, in pages, until one went live before ``since`` (serials grow with
    time), so a year of serials is not read each pass."""
    found: dict[int, datetime] = {}
    below: int | None = None
    while True:
        query = select(SerialTrace.serial, SerialTrace.at).where(
            SerialTrace.zone_id == zone_id, SerialTrace.stage == "live"
        )
        if below is not None:
            query = query.where(SerialTrace.serial < below)
        page = session.execute(query.order_by(SerialTrace.serial.desc()).limit(BATCH)).all()
        for serial, at in page:
            if at < since:
                return found
            found[serial] = at
        if len(page) < BATCH:
            return found
        below = page[-1][0]


def _ds_records(
    session: Session, changes: Sequence[ZoneChange]
) -> dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]]:
    """(svTRID, domain) -> (DS added, DS removed), for the changes whose history row
    changed a DS (an update's ``ds_added``/``ds_removed``, a create's ``ds``); found by
    the history's indexed name, then the svTRID."""
    trids = {str(c.sv_trid) for c in changes}
    if not trids:
        return {}
    earliest = min(c.at for c in changes)  # a change's history row has its time
    out: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for chunk in _chunks(sorted({c.name for c in changes})):
        rows = session.execute(
            select(HistoryEntry.sv_trid, HistoryEntry.object_name, HistoryEntry.detail).where(
                HistoryEntry.object_name.in_(chunk),
                HistoryEntry.object_type == "domain",
                HistoryEntry.at >= earliest,
            )
        )
        for trid, name, detail in rows:
            if trid not in trids:
                continue
            data = json.loads(detail or "{}")
            added = tuple(str(d) for d in (data.get("ds_added") or data.get("ds") or ()))
            removed = tuple(str(d) for d in (data.get("ds_removed") or ()))
            if added or removed:
                out[(trid, name)] = (added, removed)
    return out


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for i in range(0, len(items), BATCH):
        yield items[i : i + BATCH]
