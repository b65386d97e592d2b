"""What the console reads: a registrar's domains (search, paging), one domain with its DS
set and name servers, and the domain's recent zone changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tldsec.registry.domains import ds_value
from tldsec.registry.ds_rules import DsData
from tldsec.registry.models import Domain, DomainNs, DsRecord, Host, HostAddress, ZoneChange
from tldsec.registry.names import normalize


@dataclass(frozen=True, slots=True)
class DomainRow:
    name: str
    ds_count: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class DomainPage:
    rows: tuple[DomainRow, ...]
    total: int
    page: int
    pages: int


@dataclass(frozen=True, slots=True)
class NameServer:
    name: str
    addresses: tuple[str, ...]  # glue, for a name server under the TLD


@dataclass(frozen=True, slots=True)
class ZoneChangeRow:
    id: int
    at: datetime
    reason: str


def domains_of(
    session: Session, registrar_id: int, search: str, page: int, page_size: int
) -> DomainPage:
    """The registrar's domains whose name contains ``search``, by name, one page."""
    where = [Domain.registrar_id == registrar_id]
    needle = normalize(search) if search.strip() else ""
    if needle:
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(Domain.name.like(f"%{escaped}%", escape="\\"))
    total = int(session.scalar(select(func.count()).select_from(Domain).where(*where)) or 0)
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    ds_count = (
        select(func.count())
        .select_from(DsRecord)
        .where(DsRecord.domain_id == Domain.id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Domain.name, ds_count, Domain.expires_at)
        .where(*where)
        .order_by(Domain.name)
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return DomainPage(
        tuple(DomainRow(name, int(count), expires) for name, count, expires in rows),
        total,
        page,
        pages,
    )


def sponsored_domain(session: Session, registrar_id: int, name: str) -> Domain | None:
    """The domain if this registrar sponsors it (the console shows nothing else)."""
    return session.scalar(
        select(Domain).where(Domain.name == normalize(name), Domain.registrar_id == registrar_id)
    )


def ds_set(session: Session, domain_id: int) -> tuple[DsData, ...]:
    return tuple(
        sorted(
            ds_value(r)
            for r in session.scalars(select(DsRecord).where(DsRecord.domain_id == domain_id))
        )
    )


def name_servers(session: Session, domain_id: int) -> tuple[NameServer, ...]:
    hosts = session.execute(
        select(Host.id, Host.name)
        .join(DomainNs, DomainNs.host_id == Host.id)
        .where(DomainNs.domain_id == domain_id)
        .order_by(Host.name)
    ).all()
    found = []
    for host_id, host_name in hosts:
        addresses = tuple(
            session.scalars(
                select(HostAddress.address)
                .where(HostAddress.host_id == host_id)
                .order_by(HostAddress.version, HostAddress.address)
            )
        )
        found.append(NameServer(host_name, addresses))
    return tuple(found)


def zone_changes(session: Session, name: str, limit: int = 5) -> tuple[ZoneChangeRow, ...]:
    """The domain's newest zone-change rows (EPP's and the console's), newest first."""
    rows = session.execute(
        select(ZoneChange.id, ZoneChange.at, ZoneChange.reason)
        .where(ZoneChange.name == name)
        .order_by(ZoneChange.id.desc())
        .limit(limit)
    )
    return tuple(ZoneChangeRow(i, at, reason) for i, at, reason in rows)
