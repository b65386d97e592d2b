"""<contact:info> (RFC 5733 3.1.2): for the sponsor, or with the contact's authInfo."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.xml.codec import CONTACT, Element, Reply, new_element, sub, timestamp
from tldsec.registry.contacts import PostalInfo, contact_info
from tldsec.registry.context import Tx


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    element = cmd.object_element
    view = contact_info(
        session, tx, fields.name(element, CONTACT, "id"), fields.auth_info(element, CONTACT)
    )
    data = new_element(CONTACT, "infData")
    sub(data, CONTACT, "id", view.handle)
    sub(data, CONTACT, "roid", view.roid)
    for status in view.statuses:
        sub(data, CONTACT, "status", s=status)
    for postal in view.postal:
        postal_element(data, postal)
    if view.voice:
        sub(data, CONTACT, "voice", view.voice)
    if view.fax:
        sub(data, CONTACT, "fax", view.fax)
    sub(data, CONTACT, "email", view.email)
    sub(data, CONTACT, "clID", view.sponsor)
    sub(data, CONTACT, "crID", view.creator)
    sub(data, CONTACT, "crDate", timestamp(view.created_at))
    if view.updater and view.updated_at:
        sub(data, CONTACT, "upID", view.updater)
        sub(data, CONTACT, "upDate", timestamp(view.updated_at))
    return Reply(res_data=data)


def postal_element(parent: Element, postal: PostalInfo) -> None:
    info = sub(parent, CONTACT, "postalInfo", type=postal.kind)
    sub(info, CONTACT, "name", postal.name)
    if postal.org:
        sub(info, CONTACT, "org", postal.org)
    addr = sub(info, CONTACT, "addr")
    for line in postal.street:
        sub(addr, CONTACT, "street", line)
    sub(addr, CONTACT, "city", postal.city)
    if postal.sp:
        sub(addr, CONTACT, "sp", postal.sp)
    if postal.pc:
        sub(addr, CONTACT, "pc", postal.pc)
    sub(addr, CONTACT, "cc", postal.cc)
