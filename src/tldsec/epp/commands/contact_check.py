"""<contact:check> (RFC 5733 3.1.1)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.xml.codec import CONTACT, Reply, new_element, sub
from tldsec.registry.contacts import check_contacts
from tldsec.registry.context import Tx


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    data = new_element(CONTACT, "chkData")
    for answer in check_contacts(session, tx, fields.names(cmd.object_element, CONTACT, "id")):
        cd = sub(data, CONTACT, "cd")
        sub(cd, CONTACT, "id", answer.name, avail="1" if answer.available else "0")
        if answer.reason:
            sub(cd, CONTACT, "reason", answer.reason[:32])
    return Reply(res_data=data)
