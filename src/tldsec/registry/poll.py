"""The poll queue: service messages waiting for a registrar (RFC 5730 2.9.2.3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tldsec.errors import ObjectNotFound, PolicyRefused
from tldsec.registry.context import Tx
from tldsec.registry.models import PollMessage


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    id: int
    created_at: datetime
    text: str
    transfer: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class QueueState:
    """The queue length and, for a request, the oldest message."""

    count: int
    first: QueuedMessage | None


def poll_request(session: Session, tx: Tx) -> QueueState:
    registrar_id = _registrar(tx)
    count = _count(session, registrar_id)
    row = session.scalar(
        select(PollMessage)
        .where(PollMessage.registrar_id == registrar_id)
        .order_by(PollMessage.id)
        .limit(1)
    )
    if row is None:
        return QueueState(0, None)
    transfer = json.loads(row.transfer_json) if row.transfer_json else None
    return QueueState(count, QueuedMessage(row.id, row.created_at, row.text, transfer))


def poll_ack(session: Session, tx: Tx, message_id: str) -> QueueState:
    """Dequeue one message of this registrar; the state after it is gone."""
    registrar_id = _registrar(tx)
    row = None
    if message_id.isdigit():
        row = session.scalar(
            select(PollMessage).where(
                PollMessage.id == int(message_id), PollMessage.registrar_id == registrar_id
            )
        )
    if row is None:
        raise ObjectNotFound(f"no message {message_id!r} in your queue")
    session.delete(row)
    session.flush()
    return QueueState(_count(session, registrar_id), None)


def _count(session: Session, registrar_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(PollMessage)
            .where(PollMessage.registrar_id == registrar_id)
        )
        or 0
    )


def _registrar(tx: Tx) -> int:
    if tx.actor.registrar_id is None:
        raise PolicyRefused("the poll queue belongs to registrars")
    return tx.actor.registrar_id
