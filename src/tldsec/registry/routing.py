"""Which zone's rules an EPP command runs under, and whether its registrar may act there
(decision 57, "EPP routing and result codes"; decision 61).

``ZoneRoutes`` is read once per process from the registry's ``zone`` table (the origins
and ids) and the home's ``[zones.NAME]`` tables (each zone's ``RegistryRules``): a
command finds its name's zone with ``ZoneIndex.zone_of``, in memory. A registrar's
``Accreditations`` are read once per session, at login, in the login's transaction;
each command weighs them at its own ``now``. So the command's hot path reads nothing
more than it did with one zone.

The table of 57: a name below no zone is 2306 for the commands that make or change
(create, renew, update, transfer request, host create) and 2303 (no such object) for
the others; a zone the registrar was never accredited for is 2201 for every command; an
accreditation that ended is 2201 for the commands that make or change, and no obstacle
to those that let a domain go (info, delete, transfer query/approve/reject/cancel).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from tldsec.errors import ConfigError, NotAccredited, ObjectNotFound, PolicyRefused
from tldsec.registry.context import RegistryRules
from tldsec.registry.models import RegistrarZone, Zone
from tldsec.registry.names import normalize
from tldsec.registry.zones import ZoneIndex


class Access(Enum):
    """What a command does to its object, as 57's table sorts them."""

    CHANGE = "create, renew, update, transfer request, host create"
    LET_GO = "info, delete, transfer query/approve/reject/cancel"


@dataclass(frozen=True, slots=True)
class ZoneRoute:
    """One zone: its id in the registry and the rules its commands run under."""

    zone_id: int
    rules: RegistryRules


@dataclass(frozen=True, slots=True)
class Accreditations:
    """One registrar's accreditations, read at its login: zone id -> (from, until)."""

    periods: Mapping[int, tuple[datetime, datetime | None]]

    def standing(self, zone_id: int, now: datetime) -> tuple[bool, datetime | None]:
        """(active, the instant it ended if it did)."""
        period = self.periods.get(zone_id)
        if period is None or period[0] > now:
            return False, None
        until = period[1]
        if until is not None and until <= now:
            return False, until
        return True, None


NO_ACCREDITATIONS = Accreditations({})


@dataclass(frozen=True, slots=True)
class ZoneRoutes:
    """The installation's zones as EPP routes to them."""

    index: ZoneIndex
    routes: Mapping[str, ZoneRoute]  # origin ("example.") -> route

    def route(
        self,
        name: str,
        access: Access,
        client_id: str,
        accreditations: Accreditations,
        now: datetime,
    ) -> ZoneRoute:
        """The route of ``name``'s zone, or the refusal of 57's table."""
        origin = self.index.zone_of(normalize(name) or ".")
        if origin is None:
            if access is Access.CHANGE:
                raise PolicyRefused(
                    f"{normalize(name)} is not under a TLD of this registry "
                    f"({self.index.described()})"
                )
            raise ObjectNotFound(
                f"{normalize(name)} is not under a TLD of this registry, so no such object "
                f"({self.index.described()})"
            )
        route = self.routes[origin]
        active, ended = accreditations.standing(route.zone_id, now)
        if active:
            return route
        if ended is None:
            raise NotAccredited(f"registrar {client_id} is not accredited for {origin}")
        if access is Access.CHANGE:
            raise NotAccredited(
                f"registrar {client_id}'s accreditation for {origin} ended on {ended.isoformat()}"
            )
        return route

    def check_refusal(
        self, name: str, accreditations: Accreditations, now: datetime
    ) -> tuple[ZoneRoute | None, str | None]:
        """For ``domain:check`` (RFC 5731 3.1.1, a check never fails for one name): the
        name's route, or why it is not available (avail="0")."""
        origin = self.index.zone_of(normalize(name) or ".")
        if origin is None:
            return None, "not a TLD of this registry"
        route = self.routes[origin]
        if not accreditations.standing(route.zone_id, now)[0]:
            return None, f"not accredited for {origin}"
        return route, None


def load_routes(
    session: Session, rules_by_origin: Mapping[str, RegistryRules]
) -> ZoneRoutes | None:
    """The registry's zones with their rules, or None for a registry that has no zone
    row yet (a database made without an origin: tests, benches), which runs as one
    zone under the server's one ``RegistryRules``, as before decision 57.

    A zone of the registry the home's settings do not describe is refused at start,
    naming it: its rules (reserved names, DS policy) would be unknown."""
    rows = session.execute(select(Zone.id, Zone.origin).order_by(Zone.id)).all()
    if not rows:
        return None
    routes: dict[str, ZoneRoute] = {}
    for zone_id, origin in rows:
        rules = rules_by_origin.get(origin.lower())
        if rules is None:
            raise ConfigError(
                f"the registry serves {origin} but tldsec.toml has no [zones.{origin.rstrip('.')}]"
                f" table for it (it has: {', '.join(rules_by_origin) or 'none'})"
            )
        routes[origin.lower()] = ZoneRoute(zone_id, replace(rules, zone_id=zone_id))
    return ZoneRoutes(ZoneIndex.of(routes), routes)


def load_accreditations(session: Session, registrar_id: int) -> Accreditations:
    """The registrar's accreditation rows (one query, at login)."""
    rows = session.execute(
        select(RegistrarZone.zone_id, RegistrarZone.accredited_at, RegistrarZone.revoked_at).where(
            RegistrarZone.registrar_id == registrar_id
        )
    ).all()
    return Accreditations({z: (since, until) for z, since, until in rows})
