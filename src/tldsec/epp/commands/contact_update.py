"""<contact:update> (RFC 5733 3.2.5)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.commands.contact_create import optional, postal_info, refuse_disclose
from tldsec.epp.xml.codec import CONTACT, Reply, q
from tldsec.registry.contacts import ContactUpdate, PostalInfo, contact_info, update_contact
from tldsec.registry.context import Tx


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    element = cmd.object_element
    refuse_disclose(element)
    handle_ = fields.name(element, CONTACT, "id")
    add, rem, chg = (element.find(q(CONTACT, part)) for part in ("add", "rem", "chg"))
    postal: tuple[PostalInfo, ...] = ()
    if chg is not None:
        current = {p.kind: p for p in contact_info(session, tx, handle_).postal}
        postal = tuple(
            postal_info(p, current.get(p.get("type", "int")))
            for p in chg.findall(q(CONTACT, "postalInfo"))
        )
    update_contact(
        session,
        tx,
        ContactUpdate(
            handle=handle_,
            add_status=fields.statuses(add, CONTACT),
            rem_status=fields.statuses(rem, CONTACT),
            postal=postal,
            voice=optional(chg, "voice") if chg is not None else None,
            fax=optional(chg, "fax") if chg is not None else None,
            email=optional(chg, "email") if chg is not None else None,
            auth_info=fields.auth_info(chg, CONTACT),
        ),
    )
    return Reply()
