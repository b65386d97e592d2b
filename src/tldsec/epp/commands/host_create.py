"""<host:create> (RFC 5732 3.2.1): addresses only, and always, for hosts under the TLD."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.xml.codec import HOST, Element, Reply, new_element, q, sub, text_of, timestamp
from tldsec.registry.addresses import HostAddr
from tldsec.registry.context import Tx
from tldsec.registry.hosts import create_host


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    element = cmd.object_element
    view = create_host(session, tx, fields.name(element, HOST), addresses(element))
    data = new_element(HOST, "creData")
    sub(data, HOST, "name", view.name)
    sub(data, HOST, "crDate", timestamp(view.created_at))
    return Reply(res_data=data)


def addresses(parent: Element | None) -> tuple[HostAddr, ...]:
    """``<host:addr ip="v4|v6">`` elements (RFC 5732 2.5; the default is v4)."""
    if parent is None:
        return ()
    return tuple(
        HostAddr(text_of(a), 6 if a.get("ip") == "v6" else 4)
        for a in parent.findall(q(HOST, "addr"))
    )
