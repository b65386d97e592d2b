"""<contact:delete> (RFC 5733 3.2.2): refused with 2305 while linked to a domain."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.xml.codec import CONTACT, Reply
from tldsec.registry.contacts import delete_contact
from tldsec.registry.context import Tx


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    delete_contact(session, tx, fields.name(cmd.object_element, CONTACT, "id"))
    return Reply()
