"""History and zone-change rows, written in the transaction of the mutation (STYLE 7)."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from tldsec.registry.context import Tx
from tldsec.registry.models import HistoryEntry, ZoneChange
from tldsec.registry.zonedigest import Tally, pending_delta


def record(
    session: Session,
    tx: Tx,
    object_type: str,
    name: str,
    action: str,
    detail: dict[str, object] | None = None,
    *,
    zone: bool = False,
) -> None:
    """Add a history row and, when the change can alter the zone, a zone-change row
    carrying the zone digest's delta of the transaction (``zonedigest.watch``): a change
    the ledger saw always gets one."""
    session.add(
        HistoryEntry(
            at=tx.now,
            client_id=tx.actor.client_id,
            object_type=object_type,
            object_name=name,
            action=action,
            sv_trid=tx.sv_trid,
            cl_trid=tx.cl_trid,
            detail=json.dumps(detail or {}, sort_keys=True, default=str),
        )
    )
    delta = pending_delta(session)
    if zone or delta is not None:
        session.add(_change(tx, name, f"{object_type}-{action}", delta, tx.rules.zone_id))


def zone_change(
    session: Session, tx: Tx, zone_id: int, object_type: str, name: str, action: str
) -> None:
    """A zone-change row of zone ``zone_id``, another zone than the command's, whose
    delegations the change alters (decision 72: a host renamed while it serves that
    zone's domains), with the digest delta taken since the previous row: the part of the
    transaction's delta under that zone's origin. ``record`` writes the command's."""
    session.add(_change(tx, name, f"{object_type}-{action}", pending_delta(session), zone_id))


def _change(tx: Tx, name: str, reason: str, delta: Tally | None, zone_id: int | None) -> ZoneChange:
    return ZoneChange(
        at=tx.now,
        name=name,
        reason=reason,
        digest_delta=None if delta is None else delta.hex(),
        count_delta=None if delta is None else delta.count,
        # decision 51: the change is traced by the transaction that made it
        sv_trid=tx.sv_trid,
        cl_trid=tx.cl_trid,
        registrar_id=tx.actor.registrar_id,
        **({} if zone_id is None else {"zone_id": zone_id}),
    )
