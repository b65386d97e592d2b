"""<domain:delete> (RFC 5731 3.2.2): immediate; orphan glue stays (DPS 6.6)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.extensions import secdns
from tldsec.epp.xml.codec import DOMAIN, Reply
from tldsec.registry.context import Tx
from tldsec.registry.domains import delete_domain


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    secdns.find(cmd.extensions, "delete", announced=cmd.secdns)
    delete_domain(session, tx, fields.name(cmd.object_element, DOMAIN))
    return Reply()
