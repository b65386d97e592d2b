"""Which of the installation's zones a console session sees, and which one it shows
(issue 19 item 2; decisions 57, 61 and 69).

The registry's zones are read once per process (``registry/routing.load_routes``), a
registrar's accreditations once per console login, as EPP reads them: a page reads
nothing more to know its zones. A session sees each zone its registrar's accreditation
has begun for: an active one, and one that ended (the registrar may still look at and
let go what it sponsors there; a change is refused with the reason, 57's table). It
shows one at a time, the selector's choice, by default its first by zone id (its only
one in a home of one zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tldsec.console.sessions import ConsoleSession
from tldsec.registry.routing import Accreditations, ZoneRoutes


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    """One zone in the selector."""

    origin: str  # "shop."
    zone_id: int
    ended: datetime | None  # the accreditation ended then: looking allowed, changes not

    @property
    def label(self) -> str:
        """What the selector shows: the TLD, and whether changes are refused there."""
        name = "." + self.origin.rstrip(".")
        if self.ended is None:
            return name
        return f"{name} (accreditation ended {self.ended:%Y-%m-%d})"


def visible_zones(
    routes: ZoneRoutes, accreditations: Accreditations, now: datetime
) -> tuple[ZoneChoice, ...]:
    """The zones a registrar's session may select at ``now``, by zone id."""
    choices = []
    for origin, route in routes.routes.items():
        period = accreditations.periods.get(route.zone_id)
        if period is None or period[0] > now:
            continue  # never accredited, or not yet
        active, ended = accreditations.standing(route.zone_id, now)
        choices.append(ZoneChoice(origin, route.zone_id, None if active else ended))
    return tuple(sorted(choices, key=lambda c: c.zone_id))


def absolute_origin(name: str) -> str:
    """``shop``, ``.Shop`` or ``shop.`` as the origin ``shop.``."""
    stripped = name.strip().strip(".").lower()
    return f"{stripped}." if stripped else ""


def choose(
    choices: tuple[ZoneChoice, ...], current: str | None, asked: str | None
) -> ZoneChoice | None:
    """The zone to show: the one ``asked`` for (``None`` if it is not among
    ``choices``: the caller refuses it), else the session's ``current`` one while it is
    still a choice, else the first. ``None`` when there is nothing to choose."""
    by_origin = {c.origin: c for c in choices}
    if asked is not None:
        return by_origin.get(absolute_origin(asked))
    if current is not None and current in by_origin:
        return by_origin[current]
    return choices[0] if choices else None


def page_zones(routes: ZoneRoutes, who: ConsoleSession | None, now: datetime) -> dict[str, Any]:
    """What every page's header shows: the selected zone (the title's TLD) and the
    zones to select from."""
    if who is None:
        return {"origin": "", "zones": ()}
    return {
        "origin": (who.zone or "").rstrip("."),
        "zones": visible_zones(routes, who.accreditations, now),
    }


def list_zone(
    routes: ZoneRoutes, who: ConsoleSession, asked: str | None, now: datetime
) -> tuple[ZoneChoice | None, str | None]:
    """The zone whose domains the list shows, now ``who``'s selected one (None: its
    registrar is accredited for none), or why the zone ``asked`` for is refused."""
    choices = visible_zones(routes, who.accreditations, now)
    chosen = choose(choices, who.zone, asked)
    if chosen is None and asked is not None:
        known = ", ".join(c.origin for c in choices) or "none"
        return (
            None,
            f"registrar {who.client_id} is not accredited for {asked!r} (its zones: {known})",
        )
    if chosen is not None:
        who.zone = chosen.origin
    return chosen, None
