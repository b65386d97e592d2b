"""The registry's ``zone`` rows as ``tldsec zone add`` and ``zone list`` use them
(decision 57, 68): add one, read them with their serials; and a zone's id by its origin,
which a cycle or a build works on (decision 65).

A zone row is the registry's half of a zone; its id is the zone's id everywhere (the
signer database's ``signer_meta`` row carries the same id, decision 60). Zones are not
nested (decision 57): a row under or above another origin is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tldsec.errors import ConfigError
from tldsec.registry.models import Zone, ZoneSerial
from tldsec.registry.zones import absolute


@dataclass(frozen=True, slots=True)
class ZoneRow:
    """One row of the ``zone`` table, with its zone's last serial (None: never built)."""

    zone_id: int
    origin: str
    policy: str
    added_at: datetime
    serial: int | None


def zone_rows(session: Session) -> list[ZoneRow]:
    """Every zone row, by id, with the serial its ``zone_serial`` row holds."""
    serials = {
        zid: serial for zid, serial in session.execute(select(ZoneSerial.id, ZoneSerial.serial))
    }
    return [
        ZoneRow(z.id, z.origin, z.policy, z.added_at, serials.get(z.id))
        for z in session.scalars(select(Zone).order_by(Zone.id))
    ]


def nested_with(origin: str, others: list[str]) -> str | None:
    """The first of ``others`` that ``origin`` is under or above (decision 57: zones are
    not nested), or None."""
    origin = absolute(origin)
    for other in others:
        other = absolute(other)
        if other != origin and (origin.endswith("." + other) or other.endswith("." + origin)):
            return other
    return None


def add_zone_row(session: Session, origin: str, policy: str, now: datetime) -> tuple[int, bool]:
    """The zone's id, and whether this call made its row (False: it was there, with the
    same policy). A nested origin, or a row of another policy, is refused."""
    origin = absolute(origin)
    rows = zone_rows(session)
    clash = nested_with(origin, [r.origin for r in rows])
    if clash is not None:
        raise ConfigError(
            f"zone {origin} and zone {clash} of the registry are nested; one home does not "
            "serve a zone and its child zone (decision 57)"
        )
    for r in rows:
        if r.origin == origin:
            if r.policy != policy:
                raise ConfigError(
                    f"the registry's zone {origin} follows policy {r.policy!r}, not {policy!r}: "
                    "make [zones.NAME] policy say the registry's"
                )
            return r.zone_id, False
    # The id is given, not the sequence's: zone 1 of a home upgraded in place was inserted
    # with its id (0007_zones), so PostgreSQL's sequence would hand out 1 again.
    zone = Zone(id=max((r.zone_id for r in rows), default=0) + 1, origin=origin,
                added_at=now, policy=policy)  # fmt: skip
    session.add(zone)
    session.flush()
    return zone.id, True


def zone_id_of(session: Session, origin: str) -> int:
    """The registry id of the zone ``origin`` (``example`` or ``example.``, any case);
    ``ConfigError`` naming ``tldsec zone add`` when the registry has no such zone (a zone
    of ``tldsec.toml`` never added to it)."""
    wanted = absolute(origin)
    found = session.scalar(select(Zone.id).where(func.lower(Zone.origin) == wanted))
    if found is None:
        known = session.scalars(select(Zone.origin).order_by(Zone.id)).all()
        raise ConfigError(
            f"the registry has no zone {wanted} (it has: {', '.join(known) or 'none'}): "
            f"'tldsec zone add {wanted}' adds it, or 'tldsec db upgrade' for a home made "
            "before zones were kept"
        )
    return int(found)
