"""<host:delete> (RFC 5732 3.2.2): refused with 2305 while a domain uses the host."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.xml.codec import HOST, Reply
from tldsec.registry.context import Tx
from tldsec.registry.hosts import delete_host


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    delete_host(session, tx, fields.name(cmd.object_element, HOST))
    return Reply()
