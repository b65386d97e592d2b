"""<domain:info> (RFC 5731 3.1.2), with <secDNS:infData> (RFC 5910 5.1.2).

Any registrar may query a domain (its NS and DS are public in the zone anyway); the
authInfo is never returned, as the registry stores only its hash.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.extensions import secdns
from tldsec.epp.xml.codec import DOMAIN, Element, Reply, new_element, q, sub, timestamp
from tldsec.registry.context import Tx
from tldsec.registry.domains import DomainView, domain_info


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    element = cmd.object_element
    secdns.find(cmd.extensions, "info", announced=cmd.secdns)  # no info extension exists
    name_element = element.find(q(DOMAIN, "name"))
    hosts = name_element.get("hosts", "all") if name_element is not None else "all"
    view = domain_info(session, tx, fields.name(element, DOMAIN))
    extension = secdns.info_data(view.ds) if cmd.secdns else None
    return Reply(res_data=inf_data(view, hosts), extension=extension)


def inf_data(view: DomainView, hosts: str) -> Element:
    data = new_element(DOMAIN, "infData")
    sub(data, DOMAIN, "name", view.name)
    sub(data, DOMAIN, "roid", view.roid)
    for status in view.statuses:
        sub(data, DOMAIN, "status", s=status)
    if view.registrant:
        sub(data, DOMAIN, "registrant", view.registrant)
    for kind, handle_ in view.contacts:
        sub(data, DOMAIN, "contact", handle_, type=kind)
    if view.ns and hosts in ("all", "del"):
        ns = sub(data, DOMAIN, "ns")
        for host in view.ns:
            sub(ns, DOMAIN, "hostObj", host)
    if hosts in ("all", "sub"):
        for host in view.subordinate_hosts:
            sub(data, DOMAIN, "host", host)
    sub(data, DOMAIN, "clID", view.sponsor)
    sub(data, DOMAIN, "crID", view.creator)
    sub(data, DOMAIN, "crDate", timestamp(view.created_at))
    if view.updater and view.updated_at:
        sub(data, DOMAIN, "upID", view.updater)
        sub(data, DOMAIN, "upDate", timestamp(view.updated_at))
    sub(data, DOMAIN, "exDate", timestamp(view.expires_at))
    if view.transferred_at:
        sub(data, DOMAIN, "trDate", timestamp(view.transferred_at))
    return data
