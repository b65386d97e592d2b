"""<domain:create> (RFC 5731 3.2.1) with <secDNS:create> DS data (RFC 5910 5.2.1)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.errors import UnimplementedOption
from tldsec.epp.extensions import secdns
from tldsec.epp.xml.codec import DOMAIN, Element, Reply, new_element, q, sub, text_of, timestamp
from tldsec.registry.context import Tx
from tldsec.registry.domains import DomainCreate, create_domain


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    element = cmd.object_element
    ds = secdns.parse_create(secdns.find(cmd.extensions, "create", announced=cmd.secdns))
    registrant = element.find(q(DOMAIN, "registrant"))
    request = DomainCreate(
        name=fields.name(element, DOMAIN),
        auth_info=fields.auth_info(element, DOMAIN) or "",
        years=fields.period_years(element, DOMAIN),
        ns=host_objects(element.find(q(DOMAIN, "ns"))),
        registrant=text_of(registrant) if registrant is not None else None,
        contacts=fields.contacts(element, DOMAIN),
        ds=ds,
    )
    view = create_domain(session, tx, request)
    data = new_element(DOMAIN, "creData")
    sub(data, DOMAIN, "name", view.name)
    sub(data, DOMAIN, "crDate", timestamp(view.created_at))
    sub(data, DOMAIN, "exDate", timestamp(view.expires_at))
    return Reply(res_data=data)


def host_objects(ns: Element | None) -> tuple[str, ...]:
    """Name servers as host objects; host attributes are not offered (RFC 5731 1.1)."""
    if ns is None:
        return ()
    if ns.find(q(DOMAIN, "hostAttr")) is not None:
        raise UnimplementedOption("name servers are host objects here: use <domain:hostObj>")
    return tuple(text_of(h) for h in ns.findall(q(DOMAIN, "hostObj")))
