"""<host:check> (RFC 5732 3.1.1)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.xml.codec import HOST, Reply, new_element, sub
from tldsec.registry.context import Tx
from tldsec.registry.hosts import check_hosts


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    data = new_element(HOST, "chkData")
    for answer in check_hosts(session, tx, fields.names(cmd.object_element, HOST)):
        cd = sub(data, HOST, "cd")
        sub(cd, HOST, "name", answer.name, avail="1" if answer.available else "0")
        if answer.reason:
            sub(cd, HOST, "reason", answer.reason[:32])
    return Reply(res_data=data)
