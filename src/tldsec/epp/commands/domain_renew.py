"""<domain:renew> (RFC 5731 3.2.3)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.extensions import secdns
from tldsec.epp.xml.codec import DOMAIN, Reply, new_element, q, sub, text_of, timestamp
from tldsec.registry.context import Tx
from tldsec.registry.domains import renew_domain


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    element = cmd.object_element
    secdns.find(cmd.extensions, "renew", announced=cmd.secdns)
    name = fields.name(element, DOMAIN)
    current = date.fromisoformat(text_of(element.find(q(DOMAIN, "curExpDate")))[:10])
    expires = renew_domain(session, tx, name, current, fields.period_years(element, DOMAIN))
    data = new_element(DOMAIN, "renData")
    sub(data, DOMAIN, "name", name.lower().rstrip("."))
    sub(data, DOMAIN, "exDate", timestamp(expires))
    return Reply(res_data=data)
