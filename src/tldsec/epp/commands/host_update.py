"""<host:update> (RFC 5732 3.2.5): addresses, statuses, rename."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.commands.host_create import addresses
from tldsec.epp.xml.codec import HOST, Reply, q, text_of
from tldsec.registry.context import Tx
from tldsec.registry.hosts import HostUpdate, update_host


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    element = cmd.object_element
    add, rem, chg = (element.find(q(HOST, part)) for part in ("add", "rem", "chg"))
    new_name = text_of(chg.find(q(HOST, "name"))) if chg is not None else None
    update_host(
        session,
        tx,
        HostUpdate(
            name=fields.name(element, HOST),
            add_addr=addresses(add),
            rem_addr=addresses(rem),
            add_status=fields.statuses(add, HOST),
            rem_status=fields.statuses(rem, HOST),
            new_name=new_name,
        ),
    )
    return Reply()
