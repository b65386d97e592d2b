"""<contact:create> (RFC 5733 3.2.1); <contact:disclose> is not offered (2102)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.errors import UnimplementedOption
from tldsec.epp.xml.codec import CONTACT, Element, Reply, new_element, q, sub, text_of, timestamp
from tldsec.registry.contacts import ContactData, PostalInfo, create_contact
from tldsec.registry.context import Tx


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    element = cmd.object_element
    refuse_disclose(element)
    view = create_contact(
        session,
        tx,
        ContactData(
            handle=fields.name(element, CONTACT, "id"),
            postal=tuple(postal_info(p) for p in element.findall(q(CONTACT, "postalInfo"))),
            email=text_of(element.find(q(CONTACT, "email"))),
            auth_info=fields.auth_info(element, CONTACT) or "",
            voice=optional(element, "voice"),
            fax=optional(element, "fax"),
        ),
    )
    data = new_element(CONTACT, "creData")
    sub(data, CONTACT, "id", view.handle)
    sub(data, CONTACT, "crDate", timestamp(view.created_at))
    return Reply(res_data=data)


def postal_info(element: Element, base: PostalInfo | None = None) -> PostalInfo:
    """A postalInfo; in an update, fields left out keep ``base``'s values."""
    addr = element.find(q(CONTACT, "addr"))

    def field(parent: Element | None, tag: str, old: str | None) -> str | None:
        found = parent.find(q(CONTACT, tag)) if parent is not None else None
        return text_of(found) if found is not None else old

    street = (
        tuple(text_of(s) for s in addr.findall(q(CONTACT, "street")))
        if addr is not None
        else (base.street if base else ())
    )
    return PostalInfo(
        kind=element.get("type", "int"),
        name=field(element, "name", base.name if base else None) or "",
        org=field(element, "org", base.org if base else None),
        street=street,
        city=field(addr, "city", base.city if base else None) or "",
        sp=field(addr, "sp", base.sp if base else None),
        pc=field(addr, "pc", base.pc if base else None),
        cc=field(addr, "cc", base.cc if base else None) or "",
    )


def optional(element: Element, tag: str) -> str | None:
    found = element.find(q(CONTACT, tag))
    return text_of(found) if found is not None else None


def refuse_disclose(element: Element) -> None:
    if element.find(f".//{q(CONTACT, 'disclose')}") is not None:
        raise UnimplementedOption("<contact:disclose> is not offered: contacts are never published")
