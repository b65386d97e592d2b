"""<domain:check> (RFC 5731 3.1.1): which names are available.

In a registry of several zones (decision 57) each name is checked under its zone's
rules; a name under no zone of the registry, or in a zone the registrar is not
accredited for, is not available and says why: a check never fails for one name."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.xml.codec import DOMAIN, Reply, new_element, sub
from tldsec.errors import LimitExceeded
from tldsec.registry.context import Tx
from tldsec.registry.domains import Availability, check_domains
from tldsec.registry.names import normalize
from tldsec.registry.routing import ZoneRoute


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    return _reply(check_domains(session, tx, fields.names(cmd.object_element, DOMAIN)))


def handle_zones(
    session: Session,
    tx: Tx,
    cmd: Command,
    route_of: Callable[[str], tuple[ZoneRoute | None, str | None]],
) -> Reply:
    """Each name under its own zone's rules, in the order asked."""
    names = fields.names(cmd.object_element, DOMAIN)
    if len(names) > tx.rules.max_check_names:
        raise LimitExceeded(f"at most {tx.rules.max_check_names} names per check")
    answers: list[Availability | None] = [None] * len(names)
    by_zone: dict[int, tuple[ZoneRoute, list[int]]] = {}
    for i, raw in enumerate(names):
        route, refusal = route_of(raw)
        if route is None:
            answers[i] = Availability(normalize(raw), False, refusal)
        else:
            by_zone.setdefault(route.zone_id, (route, []))[1].append(i)
    for route, indexes in by_zone.values():
        zone_tx = Tx(
            actor=tx.actor,
            now=tx.now,
            sv_trid=tx.sv_trid,
            rules=route.rules,
            hasher=tx.hasher,
            cl_trid=tx.cl_trid,
            audit=tx.audit,
        )
        checked = check_domains(session, zone_tx, [names[i] for i in indexes])
        for i, answer in zip(indexes, checked, strict=True):
            answers[i] = answer
    return _reply([a for a in answers if a is not None])


def _reply(answers: Sequence[Availability]) -> Reply:
    data = new_element(DOMAIN, "chkData")
    for answer in answers:
        cd = sub(data, DOMAIN, "cd")
        sub(cd, DOMAIN, "name", answer.name, avail="1" if answer.available else "0")
        if answer.reason:
            sub(cd, DOMAIN, "reason", answer.reason[:32])
    return Reply(res_data=data)
