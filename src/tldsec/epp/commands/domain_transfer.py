"""<transfer op="..."><domain:transfer> (RFC 5731 3.1.3, 3.2.4)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands import fields
from tldsec.epp.errors import ResultCode
from tldsec.epp.extensions import secdns
from tldsec.epp.xml.codec import DOMAIN, Element, Reply, new_element, sub, timestamp
from tldsec.registry.context import Tx
from tldsec.registry.transfers import (
    TransferView,
    approve_transfer,
    cancel_transfer,
    query_transfer,
    reject_transfer,
    request_transfer,
)


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    element = cmd.object_element
    secdns.find(cmd.extensions, "transfer", announced=cmd.secdns)
    name = fields.name(element, DOMAIN)
    auth = fields.auth_info(element, DOMAIN)
    if cmd.op == "request":
        years = fields.period_years(element, DOMAIN)
        view = request_transfer(session, tx, name, auth or "", years)
        # RFC 5731 3.2.4: a request leaves the transfer pending: 1001.
        return Reply(code=ResultCode.SUCCESS_PENDING, res_data=trn_data(view))
    actions = {
        "query": lambda: query_transfer(session, tx, name, auth),
        "approve": lambda: approve_transfer(session, tx, name),
        "reject": lambda: reject_transfer(session, tx, name),
        "cancel": lambda: cancel_transfer(session, tx, name),
    }
    return Reply(res_data=trn_data(actions[cmd.op or "query"]()))


def trn_data(view: TransferView) -> Element:
    data = new_element(DOMAIN, "trnData")
    sub(data, DOMAIN, "name", view.name)
    sub(data, DOMAIN, "trStatus", view.status)
    sub(data, DOMAIN, "reID", view.requested_by)
    sub(data, DOMAIN, "reDate", timestamp(view.requested_at))
    sub(data, DOMAIN, "acID", view.action_by)
    sub(data, DOMAIN, "acDate", timestamp(view.action_at))
    sub(data, DOMAIN, "exDate", timestamp(view.expires_at))
    return data
