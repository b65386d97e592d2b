"""<host:info> (RFC 5732 3.1.2)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.xml.codec import HOST, Reply, new_element, sub, timestamp
from tldsec.registry.context import Tx
from tldsec.registry.hosts import host_info


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    view = host_info(session, tx, fields.name(cmd.object_element, HOST))
    data = new_element(HOST, "infData")
    sub(data, HOST, "name", view.name)
    sub(data, HOST, "roid", view.roid)
    for status in view.statuses:
        sub(data, HOST, "status", s=status)
    for address in view.addresses:
        sub(data, HOST, "addr", address.address, ip=f"v{address.version}")
    sub(data, HOST, "clID", view.sponsor)
    sub(data, HOST, "crID", view.creator)
    sub(data, HOST, "crDate", timestamp(view.created_at))
    if view.updater and view.updated_at:
        sub(data, HOST, "upID", view.updater)
        sub(data, HOST, "upDate", timestamp(view.updated_at))
    return Reply(res_data=data)
