"""Domain transfers between registrars (RFC 5731 3.1.3, 3.2.4).

A request by the gaining registrar (with the domain's authInfo) stays pending until the
losing registrar approves or rejects it, the gaining registrar cancels it, or
``RegistryRules.transfer_pending`` passes and the server approves it. Both sides get
a poll message at each step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from tldsec.errors import (
    InvalidAuthInfo,
    NotEligible,
    NoTransferPending,
    NotSponsor,
    PolicyRefused,
    StatusProhibits,
    TransferPending,
)
from tldsec.registry import history
from tldsec.registry.context import Tx
from tldsec.registry.domains import check_period
from tldsec.registry.models import Domain
from tldsec.registry.names import check_domain_name
from tldsec.registry.objects import (
    complete_transfer,
    domain_statuses,
    load_domain,
    queue_message,
    transfer_data,
)
from tldsec.registry.passwords import verify
from tldsec.registry.statuses import prohibits


@dataclass(frozen=True, slots=True)
class TransferView:
    """domain:trnData (RFC 5731 3.1.3)."""

    name: str
    status: str
    requested_by: str
    requested_at: datetime
    action_by: str
    action_at: datetime
    expires_at: datetime


def request_transfer(
    session: Session, tx: Tx, name: str, auth_info: str, years: int = 1
) -> TransferView:
    domain = _load(session, tx, name)
    if tx.actor.registrar_id is None:
        raise PolicyRefused("transfers are requested by registrars")
    if domain.registrar_id == tx.actor.registrar_id:
        raise NotEligible(f"domain {domain.name!r} is already sponsored by you")
    if not verify(tx.hasher, domain.auth_hash, auth_info):
        raise InvalidAuthInfo(f"wrong authInfo for domain {domain.name!r}")
    if domain.transfer_status == "pending":
        raise TransferPending(f"a transfer of {domain.name!r} is already pending")
    status = prohibits(domain_statuses(session, domain.id), "Transfer")
    if status:
        raise StatusProhibits(f"domain {domain.name!r} has status {status}")
    check_period(years, tx)
    domain.transfer_status = "pending"
    domain.transfer_gaining_id = tx.actor.registrar_id
    domain.transfer_losing_id = domain.registrar_id
    domain.transfer_requested_at = tx.now
    domain.transfer_action_at = tx.now + tx.rules.transfer_pending
    domain.transfer_years = years
    history.record(session, tx, "domain", domain.name, "transfer-request", {"years": years})
    queue_message(
        session,
        tx,
        domain.registrar_id,
        f"Transfer of {domain.name} requested",
        transfer_data(session, domain),
    )
    return _view(session, domain)


def query_transfer(
    session: Session, tx: Tx, name: str, auth_info: str | None = None
) -> TransferView:
    domain = _load(session, tx, name)
    if domain.transfer_status is None:
        raise NoTransferPending(f"domain {domain.name!r} has never been transferred")
    parties = {domain.registrar_id, domain.transfer_gaining_id, domain.transfer_losing_id}
    allowed = tx.actor.is_registry or tx.actor.registrar_id in parties
    if not allowed and not (auth_info and verify(tx.hasher, domain.auth_hash, auth_info)):
        raise NotSponsor(f"only the parties of a transfer of {domain.name!r} may query it")
    return _view(session, domain)


def approve_transfer(session: Session, tx: Tx, name: str) -> TransferView:
    return _close(session, tx, name, "clientApproved", by="losing")


def reject_transfer(session: Session, tx: Tx, name: str) -> TransferView:
    return _close(session, tx, name, "clientRejected", by="losing")


def cancel_transfer(session: Session, tx: Tx, name: str) -> TransferView:
    return _close(session, tx, name, "clientCancelled", by="gaining")


def _close(session: Session, tx: Tx, name: str, status: str, *, by: str) -> TransferView:
    domain = _load(session, tx, name)
    if domain.transfer_status != "pending":
        raise NoTransferPending(f"domain {domain.name!r} has no pending transfer")
    party = domain.transfer_losing_id if by == "losing" else domain.transfer_gaining_id
    if not tx.actor.is_registry and tx.actor.registrar_id != party:
        raise NotSponsor(f"only the {by} registrar may do this to the transfer of {name!r}")
    complete_transfer(session, tx, domain, status, at=tx.now)
    return _view(session, domain)


def _load(session: Session, tx: Tx, name: str) -> Domain:
    return load_domain(session, tx, check_domain_name(name, tx.rules.origin))


def _view(session: Session, domain: Domain) -> TransferView:
    data = transfer_data(session, domain)
    assert domain.transfer_requested_at and domain.transfer_action_at
    return TransferView(
        name=domain.name,
        status=data["trStatus"],
        requested_by=data["reID"],
        requested_at=domain.transfer_requested_at,
        action_by=data["acID"],
        action_at=domain.transfer_action_at,
        expires_at=domain.expires_at,
    )
