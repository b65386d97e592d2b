"""Which zones a registrar may register in: its accreditations (decision 57).

A registrar is accredited for a zone from ``accredited_at`` until ``revoked_at`` (NULL:
open-ended), one ``registrar_zone`` row per pair, as FRED's registrar zone access. The
EPP commands ask ``accredited`` in their own transaction, with their one ``now``; the
operator changes accreditations with ``tldsec registrar accredit|revoke`` (``accredit``,
``revoke``), each audited as an installation-wide event that names its zone
(decision 58).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tldsec.errors import InvalidValue, ObjectNotFound
from tldsec.registry import history
from tldsec.registry.context import Tx
from tldsec.registry.models import Registrar, RegistrarZone, Zone
from tldsec.registry.zones import absolute


@dataclass(frozen=True, slots=True)
class Accreditation:
    """A registrar's standing in one zone at one instant.

    ``since`` None: never accredited (or not yet: its accreditation starts later);
    ``ended`` set: it was, and the accreditation ended then (revoked)."""

    since: datetime | None
    ended: datetime | None

    @property
    def active(self) -> bool:
        return self.since is not None and self.ended is None

    @property
    def revoked(self) -> bool:
        return self.ended is not None


def accredited(session: Session, registrar_id: int, zone_id: int, now: datetime) -> Accreditation:
    """The registrar's accreditation for the zone at ``now``: one primary-key read."""
    row = session.get(RegistrarZone, (registrar_id, zone_id))
    if row is None or row.accredited_at > now:
        return Accreditation(None, None)
    if row.revoked_at is not None and row.revoked_at <= now:
        return Accreditation(row.accredited_at, row.revoked_at)
    return Accreditation(row.accredited_at, None)


def _registrar(session: Session, client_id: str) -> Registrar:
    registrar = session.scalar(select(Registrar).where(Registrar.client_id == client_id))
    if registrar is None:
        raise ObjectNotFound(f"no registrar {client_id!r}")
    return registrar


def zone_named(session: Session, origin: str) -> Zone:
    """The registry's zone of ``origin`` (``shop`` or ``shop.``), or ``ObjectNotFound``
    naming the zones there are."""
    wanted = absolute(origin)
    zone = session.scalar(select(Zone).where(func.lower(Zone.origin) == wanted))
    if zone is None:
        known = ", ".join(session.scalars(select(Zone.origin).order_by(Zone.id))) or "none"
        raise ObjectNotFound(f"this registry serves no zone {wanted} (its zones: {known})")
    return zone


def accredit(
    session: Session, tx: Tx, client_id: str, origin: str, since: datetime | None = None
) -> RegistrarZone:
    """Accredit the registrar for the zone from ``since`` (default: now); a revoked
    accreditation is opened again from then."""
    registrar = _registrar(session, client_id)
    zone = zone_named(session, origin)
    start = since or tx.now
    row = session.get(RegistrarZone, (registrar.id, zone.id))
    if row is not None and row.revoked_at is None:
        raise InvalidValue(
            f"registrar {client_id} is already accredited for {zone.origin} "
            f"(since {row.accredited_at.isoformat()})"
        )
    if row is None:
        row = RegistrarZone(registrar_id=registrar.id, zone_id=zone.id, accredited_at=start)
        session.add(row)
    else:
        row.accredited_at, row.revoked_at = start, None
    session.flush()
    history.record(
        session, tx, "registrar", client_id, "accredit",
        {"zone": zone.origin, "from": start.isoformat()},
    )  # fmt: skip
    tx.audit(
        "registrar.accredit",
        actor=tx.actor.client_id,
        registrar=client_id,
        zone=zone.origin,
        accredited_from=start,
    )
    return row


def revoke(
    session: Session, tx: Tx, client_id: str, origin: str, at: datetime | None = None
) -> RegistrarZone:
    """End the registrar's accreditation for the zone at ``at`` (default: now). Its
    domains stay: it may still let them go or transfer them out (decision 57)."""
    registrar = _registrar(session, client_id)
    zone = zone_named(session, origin)
    end = at or tx.now
    row = session.get(RegistrarZone, (registrar.id, zone.id))
    if row is None or row.revoked_at is not None:
        raise InvalidValue(f"registrar {client_id} is not accredited for {zone.origin}")
    if end < row.accredited_at:
        raise InvalidValue(
            f"the accreditation of {client_id} for {zone.origin} starts "
            f"{row.accredited_at.isoformat()}: it cannot end before, at {end.isoformat()}"
        )
    row.revoked_at = end
    session.flush()
    history.record(
        session, tx, "registrar", client_id, "revoke",
        {"zone": zone.origin, "at": end.isoformat()},
    )  # fmt: skip
    tx.audit(
        "registrar.revoke", actor=tx.actor.client_id, registrar=client_id, zone=zone.origin,
        revoked_at=end,
    )  # fmt: skip
    return row


def accredit_for_the_only_zone(session: Session, registrar_id: int, now: datetime) -> None:
    """A new registrar of a one-zone registry is accredited for that zone from its
    creation, as every registrar of a one-zone home is by the upgrade (decision 60):
    a one-zone home behaves as before. With several zones (or none yet) the operator
    accredits explicitly."""
    zones = session.scalars(select(Zone.id).limit(2)).all()
    if len(zones) == 1:
        session.add(RegistrarZone(registrar_id=registrar_id, zone_id=zones[0], accredited_at=now))
