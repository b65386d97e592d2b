"""<poll op="req|ack"> (RFC 5730 2.9.2.3): the registrar's message queue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tldsec.epp.command import Command
from tldsec.epp.commands.domain_transfer import trn_data
from tldsec.epp.errors import RequiredParameterMissing, ResultCode
from tldsec.epp.xml.codec import MsgQ, Reply
from tldsec.registry.context import Tx
from tldsec.registry.poll import poll_ack, poll_request
from tldsec.registry.transfers import TransferView


def handle(session: Session, tx: Tx, cmd: Command) -> Reply:
    if cmd.op == "ack":
        if not cmd.msg_id:
            raise RequiredParameterMissing('<poll op="ack"> needs a msgID')
        state = poll_ack(session, tx, cmd.msg_id)
        return Reply(msgq=MsgQ(count=state.count, id=cmd.msg_id))
    state = poll_request(session, tx)
    if state.first is None:
        return Reply(code=ResultCode.SUCCESS_NO_MESSAGES)
    message = state.first
    res_data = None
    if message.transfer:
        t = message.transfer
        res_data = trn_data(
            TransferView(
                name=t["name"],
                status=t["trStatus"],
                requested_by=t["reID"],
                requested_at=datetime.fromisoformat(t["reDate"]),
                action_by=t["acID"],
                action_at=datetime.fromisoformat(t["acDate"]),
                expires_at=datetime.fromisoformat(t["exDate"]),
            )
        )
    return Reply(
        code=ResultCode.SUCCESS_ACK_TO_DEQUEUE,
        msgq=MsgQ(state.count, str(message.id), message.created_at, message.text),
        res_data=res_data,
    )
