"""The cycle's part of a change's trace (decision 51): which traced changes a serial
includes, and when the serial was built, signed, verified and published (or refused).
Per zone (decision 65): a serial includes its zone's changes only, and its stages are
that zone's ``serial_trace`` rows (two zones' serials may be equal).

Written once per cycle, after its outcome, in one transaction: one ``INSERT ... SELECT``
for the changes (a range of ``zone_change`` ids, so its cost follows the changes, not the
zone) and one multi-row insert for the stages. A change's steps are its serials' steps,
so nothing is written per change per stage. A trace that cannot be written is logged and
lost; it never fails a cycle that published.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, and_, insert, literal, or_, select
from sqlalchemy.exc import SQLAlchemyError

from tldsec.registry.database import RegistryDatabase
from tldsec.registry.models import ChangeTrace, SerialTrace, ZoneChange

log = logging.getLogger("tldsec.cycle")

CHANGE = cast(Table, ZoneChange.__table__)
CHANGE_TRACE = cast(Table, ChangeTrace.__table__)
SERIAL_TRACE = cast(Table, SerialTrace.__table__)


@dataclass(frozen=True, slots=True)
class Included:
    """The zone-change ids a build included: ``(after, upto]`` less ``unsettled`` (not yet
    visible to the build), plus ``late`` (missed by an earlier build, seen by this one),
    less the changes of objects the build ``withheld`` (zone.quarantine: their change is
    not in this serial, so it must never be called live), plus the untraced changes of
    objects ``released`` from quarantine (published at last, in this serial)."""

    after: int
    upto: int
    unsettled: Collection[int] = ()
    late: Collection[int] = ()
    withheld: Collection[str] = ()
    released: Collection[str] = ()


def record(
    registry: RegistryDatabase,
    zone_id: int,
    serial: int,
    included: Included | None,
    stages: Sequence[tuple[str, datetime]],
) -> None:
    """Write the zone's serial's traced changes and its stage times (see the module's
    text); ``zone_id`` is the zone's registry id."""
    if not stages:
        return
    try:
        with registry.write() as session:
            if included is not None:
                in_range = and_(
                    CHANGE.c.id > included.after,
                    CHANGE.c.id <= included.upto,
                    *([CHANGE.c.id.not_in(list(included.unsettled))] if included.unsettled else []),
                )
                wanted = (
                    or_(in_range, CHANGE.c.id.in_(list(included.late)))
                    if included.late
                    else in_range
                )
                if included.withheld:
                    wanted = and_(wanted, CHANGE.c.name.not_in(list(included.withheld)))
                if included.released:
                    traced = select(CHANGE_TRACE.c.change_id).where(
                        CHANGE_TRACE.c.change_id == CHANGE.c.id
                    )
                    wanted = or_(
                        wanted,
                        and_(
                            CHANGE.c.name.in_(list(included.released)),
                            CHANGE.c.id <= included.upto,
                            ~traced.exists(),
                        ),
                    )
                session.execute(
                    insert(CHANGE_TRACE).from_select(
                        ["change_id", "serial"],
                        select(CHANGE.c.id, literal(serial)).where(
                            wanted, CHANGE.c.zone_id == zone_id, CHANGE.c.sv_trid.is_not(None)
                        ),
                    )
                )
            session.execute(
                insert(SERIAL_TRACE),
                [
                    {"zone_id": zone_id, "serial": serial, "stage": s, "node": "", "at": at}
                    for s, at in stages
                ],
            )
    except SQLAlchemyError as exc:
        log.warning("the trace of serial %s was not written: %s", serial, exc)
