"""<domain:check> (RFC 5731 3.1.1): which names are available."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.xml.codec import DOMAIN, Reply, new_element, sub
from tldsec.registry.context import Tx
from tldsec.registry.domains import check_domains


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    answers = check_domains(session, tx, fields.names(cmd.object_element, DOMAIN))
    data = new_element(DOMAIN, "chkData")
    for answer in answers:
        cd = sub(data, DOMAIN, "cd")
        sub(cd, DOMAIN, "name", answer.name, avail="1" if answer.available else "0")
        if answer.reason:
            sub(cd, DOMAIN, "reason", answer.reason[:32])
    return Reply(res_data=data)
