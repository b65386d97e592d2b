"""What the console reads: a registrar's domains (search, paging), and one domain with
its DS set, name servers and recent zone changes.

Core statements built once, not ORM objects: a page is a few small reads, and building
ORM entities and statements per request cost the console more CPU than PostgreSQL spent
running them (docs/benchmarks.md, issue 18). The domain page is one statement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CompoundSelect,
    Connection,
    Integer,
    String,
    Table,
    bindparam,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from tldsec.registry.advisory import NameServer
from tldsec.registry.ds_rules import DsData
from tldsec.registry.models import Domain, DomainNs, DsRecord, Host, HostAddress, ZoneChange
from tldsec.registry.names import normalize

Reader = Session | Connection
DOMAIN = cast(Table, Domain.__table__)
DS = cast(Table, DsRecord.__table__)
NS = cast(Table, DomainNs.__table__)
HOST = cast(Table, Host.__table__)
ADDRESS = cast(Table, HostAddress.__table__)
ZONE_CHANGE = cast(Table, ZoneChange.__table__)
CHANGES_SHOWN = 5


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
class ZoneChangeRow:
    id: int
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class DomainDetail:
    """One sponsored domain as its page shows it."""

    id: int
    name: str
    transfer_status: str | None
    ds: tuple[DsData, ...]  # sorted
    ns: tuple[NameServer, ...]  # by name, each with its addresses by version, address
    changes: tuple[ZoneChangeRow, ...]  # the newest first


_DS_COUNT = (
    select(func.count()).select_from(DS).where(DS.c.domain_id == DOMAIN.c.id).scalar_subquery()
)


def domains_of(
    conn: Reader,
    registrar_id: int,
    search: str,
    page: int,
    page_size: int,
    zone_id: int | None = None,
) -> DomainPage:
    """The registrar's domains whose name contains ``search``, by name, one page; with
    ``zone_id``, only that zone's (the console's selected zone, decision 69)."""
    where = [DOMAIN.c.registrar_id == registrar_id]
    if zone_id is not None:
        where.append(DOMAIN.c.zone_id == zone_id)
    needle = normalize(search) if search.strip() else ""
    if needle:
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(DOMAIN.c.name.like(f"%{escaped}%", escape="\\"))
    total = int(conn.scalar(select(func.count()).select_from(DOMAIN).where(*where)) or 0)
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    rows = conn.execute(
        select(DOMAIN.c.name, _DS_COUNT, DOMAIN.c.expires_at)
        .where(*where)
        .order_by(DOMAIN.c.name)
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return DomainPage(
        tuple(DomainRow(name, int(count), expires) for name, count, expires in rows),
        total,
        page,
        pages,
    )


def _detail_statement() -> CompoundSelect[Any]:
    """The domain page's statement: rows of (kind, at, text1, text2, n1, n2, n3)."""
    domain_id = (
        select(DOMAIN.c.id)
        .where(DOMAIN.c.name == bindparam("name"), DOMAIN.c.registrar_id == bindparam("registrar"))
        .scalar_subquery()
    )
    no_text, no_number = sql_cast(null(), String), sql_cast(null(), Integer)
    changes = (
        select(ZONE_CHANGE.c.id, ZONE_CHANGE.c.at, ZONE_CHANGE.c.reason)
        .where(ZONE_CHANGE.c.name == bindparam("name"))
        .order_by(ZONE_CHANGE.c.id.desc())
        .limit(CHANGES_SHOWN)
        .subquery()
    )
    return union_all(
        # First: the result's column types (the timestamp's) come from it.
        select(
            literal("c").label("kind"),
            changes.c.at,
            changes.c.reason.label("text1"),
            no_text.label("text2"),
            changes.c.id.label("n1"),
            no_number.label("n2"),
            no_number.label("n3"),
        ),
        select(
            literal("d"),
            null(),
            DOMAIN.c.name,
            DOMAIN.c.transfer_status,
            DOMAIN.c.id,
            no_number,
            no_number,
        ).where(DOMAIN.c.id == domain_id),
        select(
            literal("s"),
            null(),
            no_text,
            DS.c.digest,
            DS.c.key_tag,
            DS.c.algorithm,
            DS.c.digest_type,
        ).where(DS.c.domain_id == domain_id),
        select(
            literal("n"),
            null(),
            HOST.c.name,
            ADDRESS.c.address,
            ADDRESS.c.version,
            no_number,
            no_number,
        )
        .select_from(
            NS.join(HOST, HOST.c.id == NS.c.host_id).outerjoin(
                ADDRESS, ADDRESS.c.host_id == HOST.c.id
            )
        )
        .where(NS.c.domain_id == domain_id),
    )


DETAIL = _detail_statement()


def domain_detail(conn: Reader, registrar_id: int, name: str) -> DomainDetail | None:
    """The domain if this registrar sponsors it (the console shows nothing else), with
    its DS set, name servers (and glue) and newest zone changes: one statement."""
    found = None
    ds: list[DsData] = []
    hosts: dict[str, list[tuple[int, str]]] = {}
    changes: list[ZoneChangeRow] = []
    for kind, at, text1, text2, n1, n2, n3 in conn.execute(
        DETAIL, {"name": normalize(name), "registrar": registrar_id}
    ):
        if kind == "d":
            found = (int(n1), str(text1), text2)
        elif kind == "s":
            ds.append(DsData(int(n1), int(n2), int(n3), str(text2)))
        elif kind == "n":
            addresses = hosts.setdefault(str(text1), [])
            if text2 is not None:
                addresses.append((int(n1), str(text2)))
        else:
            changes.append(ZoneChangeRow(int(n1), at, str(text1)))
    if found is None:
        return None
    return DomainDetail(
        id=found[0],
        name=found[1],
        transfer_status=found[2],
        ds=tuple(sorted(ds)),
        ns=tuple(NameServer(h, tuple(a for _, a in sorted(hosts[h]))) for h in sorted(hosts)),
        changes=tuple(sorted(changes, key=lambda c: c.id, reverse=True)),
    )
