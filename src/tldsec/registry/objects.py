"""Loading registry objects and the authorization rule every service applies.

DPS 3.2 and 3.5.3: only the sponsoring registrar may act for a domain (and for the
hosts and contacts it sponsors); the registry operator may act for any object.
Loaders for changes lock the row (``FOR UPDATE`` on PostgreSQL; SQLite write
transactions are serialised by ``BEGIN IMMEDIATE``), so concurrent commands on one
domain apply one after the other.
"""

from __future__ import annotations

import calendar
import json
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tldsec.errors import NotSponsor, ObjectNotFound
from tldsec.registry import history
from tldsec.registry.context import Tx
from tldsec.registry.models import (
    Contact,
    Domain,
    DomainNs,
    DomainStatus,
    Host,
    PollMessage,
    Registrar,
)


def roid(kind: str, row_id: int, suffix: str = "TLDSEC") -> str:
    """Repository object id (RFC 5730 2.8, eppcom:roidType): ``D42-TLDSEC``."""
    return f"{kind}{row_id}-{suffix}"


def require_sponsor(tx: Tx, sponsor_id: int, what: str) -> None:
    """The authorization rule: the sponsor or the registry, nobody else."""
    if tx.actor.is_registry or tx.actor.registrar_id == sponsor_id:
        return
    raise NotSponsor(f"{what} is sponsored by another registrar")


def load_domain(session: Session, tx: Tx, name: str, *, lock: bool = True) -> Domain:
    """The domain (locked for the transaction), with an overdue transfer settled first."""
    query = select(Domain).where(Domain.name == name)
    domain = session.scalar(query.with_for_update() if lock else query)
    if domain is None:
        raise ObjectNotFound(f"domain {name!r} does not exist")
    settle_transfer(session, tx, domain)
    return domain


def load_host(session: Session, name: str, *, lock: bool = True) -> Host:
    query = select(Host).where(Host.name == name)
    host = session.scalar(query.with_for_update() if lock else query)
    if host is None:
        raise ObjectNotFound(f"host {name!r} does not exist")
    return host


def load_contact(session: Session, handle: str, *, lock: bool = True) -> Contact:
    query = select(Contact).where(Contact.handle == handle)
    contact = session.scalar(query.with_for_update() if lock else query)
    if contact is None:
        raise ObjectNotFound(f"contact {handle!r} does not exist")
    return contact


def domain_statuses(session: Session, domain_id: int) -> set[str]:
    return set(
        session.scalars(select(DomainStatus.status).where(DomainStatus.domain_id == domain_id))
    )


def set_statuses(session: Session, domain_id: int, add: set[str], remove: set[str]) -> None:
    if remove:
        session.execute(
            delete(DomainStatus).where(
                DomainStatus.domain_id == domain_id, DomainStatus.status.in_(remove)
            )
        )
    session.add_all(DomainStatus(domain_id=domain_id, status=s) for s in sorted(add))


def client_ids(session: Session, *ids: int | None) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(Registrar.id, Registrar.client_id).where(Registrar.id.in_(wanted))
    )
    return {row_id: cid for row_id, cid in rows}


def host_in_use(session: Session, host_id: int) -> bool:
    return (
        session.scalar(select(DomainNs.domain_id).where(DomainNs.host_id == host_id).limit(1))
        is not None
    )


def add_years(when: datetime, years: int) -> datetime:
    """The same moment ``years`` later (29 February becomes 28 February)."""
    year = when.year + years
    day = min(when.day, calendar.monthrange(year, when.month)[1])
    return when.replace(year=year, day=day)


def settle_transfer(session: Session, tx: Tx, domain: Domain) -> None:
    """RFC 5731 3.2.4: a transfer nobody acted on is approved by the server when due."""
    due = domain.transfer_action_at
    if domain.transfer_status != "pending" or due is None or due > tx.now:
        return
    complete_transfer(session, tx, domain, "serverApproved", at=due)


def complete_transfer(
    session: Session, tx: Tx, domain: Domain, status: str, *, at: datetime
) -> None:
    """Close a pending transfer; on approval the gaining registrar becomes the sponsor."""
    gaining, losing = domain.transfer_gaining_id, domain.transfer_losing_id
    domain.transfer_status = status
    domain.transfer_action_at = at
    if status in ("serverApproved", "clientApproved") and gaining is not None:
        domain.registrar_id = gaining
        domain.transferred_at = at
        domain.expires_at = add_years(domain.expires_at, domain.transfer_years or 1)
        # RFC 5732 3.2.4: subordinate hosts follow their domain.
        for host in session.scalars(select(Host).where(Host.parent_name == domain.name)):
            host.registrar_id = gaining
            host.updated_at = at
    history.record(session, tx, "domain", domain.name, f"transfer-{status}")
    text = f"Transfer of {domain.name}: {status}"
    data = transfer_data(session, domain)
    for registrar_id in {gaining, losing} - {None, tx.actor.registrar_id}:
        assert registrar_id is not None
        queue_message(session, tx, registrar_id, text, data)


def transfer_data(session: Session, domain: Domain) -> dict[str, str]:
    """The domain:trnData fields of the domain's latest transfer (RFC 5731 3.1.3)."""
    ids = client_ids(session, domain.transfer_gaining_id, domain.transfer_losing_id)
    assert domain.transfer_requested_at and domain.transfer_action_at
    return {
        "name": domain.name,
        "trStatus": domain.transfer_status or "",
        "reID": ids.get(domain.transfer_gaining_id or -1, ""),
        "reDate": domain.transfer_requested_at.isoformat(),
        "acID": ids.get(domain.transfer_losing_id or -1, ""),
        "acDate": domain.transfer_action_at.isoformat(),
        "exDate": domain.expires_at.isoformat(),
    }


def queue_message(
    session: Session, tx: Tx, registrar_id: int, text: str, transfer: dict[str, str] | None
) -> None:
    session.add(
        PollMessage(
            registrar_id=registrar_id,
            created_at=tx.now,
            text=text,
            transfer_json=json.dumps(transfer, sort_keys=True) if transfer else None,
        )
    )
