"""The registry's zone digest: what the zone must hold, kept by the registry itself in
the transaction of every change (DPS 6.6, issue 13; decision 42).

One canonical form of a delegation record -- (owner, type, rdata) for NS, DS and glue
A/AAAA -- and one order-independent digest of a multiset of them: the count and the sum
modulo 2^256 of each record's SHA-256 (``Tally``). Reconciliation (``cycle/reconcile``)
uses the same form and digest for the zone's side; this module computes the registry's
side from the registry's rows (``registry_records``), never from the builder's output.

The ledger: ``zone_digest`` holds one row per owner name (a domain's NS and DS, a host's
glue), updated in the same transaction as every registry change that alters what the
zone holds at that owner; each such transaction's ``zone_change`` row carries its
digest delta (new minus old, and the count delta). The running sum of the deltas and the
sum of the table (``table_sum``) must both equal the digest of the zone the builder
wrote. The 256-bit value is stored as eight 32-bit limbs in 64-bit columns (``d0`` the
least significant) and updated by *adding* each delta's limbs, never by rewriting the
row: two transactions touching the same owner then commute without a lost update, and
``SUM()`` works on SQLite and PostgreSQL without overflow; the limbs are reduced modulo
2^256 when read. A service computes its delta as the owners' digests recomputed from the
rows after its writes minus before them (``watch``), so a row a database owner edited
outside the services stays a difference between the ledger and the rows, which the
cycle refuses, however many services change that owner afterwards.

Zones (decisions 57, 65, 75): an owner is in one zone only (zones are not nested), and
its row names that zone (``zone_id``: the writer's zone where it knows it, as EPP's DS
hot path does, else the zone whose origin the owner is under, found in the same
statement), so a zone's ledger is its rows (``table_sum``). Glue is
written only in a host's own zone (``host.zone_id``, the zone it is in-bailiwick of)
and only for a delegation of that zone naming it (RFC 9471 in-domain glue): a host of
zone Y that serves a domain of zone Z is out of bailiwick in Z, and is glue in Y only
when a delegation of Y names it too.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy import cast as cast_
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.orm import Session

from tldsec.registry.models import (
    Domain,
    DomainNs,
    DomainStatus,
    DsRecord,
    Host,
    HostAddress,
    Zone,
    ZoneChange,
    ZoneDigest,
)
from tldsec.registry.statuses import HOLD

MODULUS = 1 << 256
LIMBS = 8
_LIMB = (1 << 32) - 1
_BATCH = 20_000
_DELTA = "tldsec.zone_digest_delta"  # Session.info key: the transaction's digest delta
DIGEST = cast(Table, ZoneDigest.__table__)
ZONES = cast(Table, Zone.__table__)
LIMB_COLUMNS = tuple(f"d{i}" for i in range(LIMBS))

Record = tuple[str, str, str]  # owner, type, rdata: canonical


def canonical(owner: str, rtype: str, rdata: str) -> Record:
    """The canonical form compared: names lower-case and absolute, DS digests upper-case
    hex with the numbers as numbers, addresses as ``ipaddress`` prints them. Text that
    does not parse is kept as it is (lower-case), so it still compares."""
    owner = owner.lower() if owner.endswith(".") else owner.lower() + "."
    rtype = rtype.upper()
    try:
        if rtype == "NS":
            rdata = rdata.strip().lower()
            rdata = rdata if rdata.endswith(".") else rdata + "."
        elif rtype == "DS":
            tag, alg, dtype, digest = rdata.split(None, 3)
            rdata = f"{int(tag)} {int(alg)} {int(dtype)} {''.join(digest.split()).upper()}"
        elif rtype == "A":
            rdata = str(ipaddress.IPv4Address(rdata.strip()))
        elif rtype == "AAAA":
            rdata = ipaddress.IPv6Address(rdata.strip()).compressed
    except ValueError:
        rdata = rdata.strip().lower()
    return owner, rtype, rdata


def record_value(record: Record) -> int:
    return int.from_bytes(hashlib.sha256("\0".join(record).encode()).digest(), "big")


@dataclass(slots=True)
class Tally:
    """An order-independent digest of a multiset of records: their count and the sum
    of their SHA-256 values modulo 2^256."""

    total: int = 0
    count: int = 0

    def add(self, record: Record) -> None:
        self.total = (self.total + record_value(record)) % MODULUS
        self.count += 1

    def remove(self, record: Record) -> None:
        self.total = (self.total - record_value(record)) % MODULUS
        self.count -= 1

    def plus(self, other: Tally) -> Tally:
        return Tally((self.total + other.total) % MODULUS, self.count + other.count)

    def minus(self, other: Tally) -> Tally:
        return Tally((self.total - other.total) % MODULUS, self.count - other.count)

    def hex(self) -> str:
        return f"{self.total:064x}"

    @property
    def empty(self) -> bool:
        return self.total == 0 and self.count == 0

    @classmethod
    def of(cls, records: Iterable[Record]) -> Tally:
        tally = cls()
        for r in records:
            tally.add(r)
        return tally

    @classmethod
    def from_limbs(cls, count: int | None, limbs: Iterable[int | None]) -> Tally:
        """A tally from ``count`` and eight limbs as stored (or summed: any size)."""
        total = sum((int(v or 0) << (32 * i)) for i, v in enumerate(limbs))
        return cls(total % MODULUS, int(count or 0))

    def limbs(self) -> list[int]:
        return [(self.total >> (32 * i)) & _LIMB for i in range(LIMBS)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tally) and (self.total, self.count) == (other.total, other.count)

    __hash__ = None  # type: ignore[assignment]


def by_owner(records: Iterable[Record]) -> dict[str, Tally]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    for r in records:
        tallies[r[0]].add(r)
    return dict(tallies)


# --- the registry's records ------------------------------------------------------------


def registry_records(
    session: Session,
    owners: Iterable[str] | None = None,
    excludes: Callable[[str], bool] | None = None,
    *,
    zone_id: int | None,
) -> Iterator[Record]:
    """Every delegation record the registry says the zone ``zone_id`` holds (only
    ``owners``' when given: absolute lower-case names), read from the registry's rows;
    an owner ``excludes`` says yes to is left out. ``zone_id`` None: every zone's (each
    owner's records in its own zone: what a service's digest of its owners is)."""
    excluded = excludes or (lambda owner: False)
    if owners is None:
        queries = _ZONE_QUERIES if zone_id is None else _zone_queries(zone_id)
        ns_rows: Iterable[tuple[Any, ...]] = _rows(session, queries[0], Domain.name, None)
        ds_rows: Iterable[tuple[Any, ...]] = _rows(session, queries[1], Domain.name, None)
        glue_rows: Iterable[tuple[Any, ...]] = _rows(session, queries[2], Host.name, None)
    else:
        # A service's few owners: the three reads in one statement per 500 names.
        ns_rows, ds_rows, glue_rows = [], [], []
        names = sorted({o.rstrip(".") for o in owners})
        connection = session.connection()
        postgres = connection.dialect.name == "postgresql"
        size = 20_000 if postgres else 500
        for start in range(0, len(names), size):
            chunk = {"names": names[start : start + size]}
            for kind, *row, zone in connection.execute(_OWNERS_QUERY[postgres], chunk):
                if zone_id is not None and zone != zone_id:
                    continue  # another zone's owner: not in this zone's file
                if kind == "n":
                    ns_rows.append((row[0], row[1]))
                elif kind == "s":
                    ds_rows.append((row[0], row[2], row[3], row[4], row[1]))
                else:
                    glue_rows.append((row[0], row[2], row[1]))
    delegated: set[str] = set()
    for domain, host in ns_rows:
        delegated.add(domain)
        if not excluded(f"{domain}."):
            yield canonical(f"{domain}.", "NS", f"{host}.")
    for domain, tag, alg, dtype, digest in ds_rows:
        if domain in delegated and not excluded(f"{domain}."):
            yield canonical(f"{domain}.", "DS", f"{tag} {alg} {dtype} {digest}")
    # Glue: the addresses of name servers below the TLD that a delegated domain uses.
    for host, version, address in glue_rows:
        owner = f"{host}."
        if not excluded(owner):
            yield canonical(owner, "A" if version == 4 else "AAAA", address)


_HELD = exists().where(DomainStatus.domain_id == Domain.id, DomainStatus.status.in_(HOLD))
# A host is glue where a delegation of its own zone names it (RFC 9471 in-domain glue).
_USED_IN_ITS_ZONE = (
    exists()
    .where(DomainNs.host_id == Host.id, DomainNs.domain_id == Domain.id)
    .where(Domain.zone_id == Host.zone_id, ~_HELD)
)
# The reads before zones (0004_zone_digest's back-fill, on a schema without zone_id):
_NS_QUERY = (
    select(Domain.name, Host.name)
    .join(DomainNs, DomainNs.domain_id == Domain.id)
    .join(Host, Host.id == DomainNs.host_id)
    .where(~_HELD)
)
_DS_QUERY = select(
    Domain.name, DsRecord.key_tag, DsRecord.algorithm, DsRecord.digest_type, DsRecord.digest
).join(DsRecord, DsRecord.domain_id == Domain.id)
_GLUE_QUERY = (
    select(Host.name, HostAddress.version, HostAddress.address)
    .join(HostAddress, HostAddress.host_id == Host.id)
    .where(Host.parent_name.is_not(None))
    .where(
        exists().where(DomainNs.host_id == Host.id, DomainNs.domain_id == Domain.id).where(~_HELD)
    )
)
_ZONE_QUERIES = (
    _NS_QUERY,
    _DS_QUERY,
    select(Host.name, HostAddress.version, HostAddress.address)
    .join(HostAddress, HostAddress.host_id == Host.id)
    .where(Host.parent_name.is_not(None), Host.zone_id.is_not(None), _USED_IN_ITS_ZONE),
)


def _zone_queries(zone_id: int) -> tuple[Any, ...]:
    """The three whole-zone reads of one zone: its domains' NS and DS, its hosts' glue."""
    ns, ds, glue = _ZONE_QUERIES
    return (
        ns.where(Domain.zone_id == zone_id),
        ds.where(Domain.zone_id == zone_id),
        glue.where(Host.zone_id == zone_id),
    )


def _names(column: Any, postgres: bool) -> Any:
    """``column`` is one of the list bound as ``names``: on PostgreSQL ``= ANY`` of one
    array (one query text whatever the count, so parsed once), elsewhere ``IN``."""
    if postgres:
        return column == any_(bindparam("names", type_=ARRAY(String)))
    names: BindParameter[list[str]] = bindparam("names", expanding=True)
    return column.in_(names)


def _owners_query(postgres: bool) -> CompoundSelect[Any]:
    """The three reads for some owners (``names``) as one statement: rows of (kind,
    owner, text, number, number, number, the owner's zone id), built once."""
    no_number = cast_(null(), Integer)
    return union_all(
        select(
            literal("n"), Domain.name, Host.name, no_number, no_number, no_number, Domain.zone_id
        )
        .join(DomainNs, DomainNs.domain_id == Domain.id)
        .join(Host, Host.id == DomainNs.host_id)
        .where(~_HELD, _names(Domain.name, postgres)),
        select(
            literal("s"),
            Domain.name,
            DsRecord.digest,
            DsRecord.key_tag,
            DsRecord.algorithm,
            DsRecord.digest_type,
            Domain.zone_id,
        )
        .join(DsRecord, DsRecord.domain_id == Domain.id)
        .where(_names(Domain.name, postgres)),
        select(
            literal("g"),
            Host.name,
            HostAddress.address,
            HostAddress.version,
            no_number,
            no_number,
            Host.zone_id,
        )
        .join(HostAddress, HostAddress.host_id == Host.id)
        .where(Host.parent_name.is_not(None), _names(Host.name, postgres))
        .where(_USED_IN_ITS_ZONE),
    )


_OWNERS_QUERY = {pg: _owners_query(pg) for pg in (False, True)}


def _rows(session: Session, query, column, names: list[str] | None) -> Iterator[tuple]:  # type: ignore[no-untyped-def,type-arg]
    connection = session.connection()
    if names is None:
        # Options of the statement, not the connection's: a service's connection goes on.
        yield from connection.execute(
            query.execution_options(stream_results=True, yield_per=_BATCH)
        )
        return
    for start in range(0, len(names), 500):
        yield from connection.execute(query.where(column.in_(names[start : start + 500])))


def related_owners(session: Session, names: Iterable[str]) -> set[str]:
    """The owners a change of ``names`` can touch: each name, the hosts below it (glue)
    and the hosts it uses as name servers (one statement per 500 names)."""
    wanted = sorted({n.lower().rstrip(".") for n in names})
    owners = {f"{n}." for n in wanted}
    postgres = session.connection().dialect.name == "postgresql"
    for start in range(0, len(wanted), 500):
        chunk = {"names": wanted[start : start + 500]}
        owners.update(f"{h}." for h in session.scalars(_RELATED_QUERY[postgres], chunk))
    return owners


def _related_query(postgres: bool) -> CompoundSelect[Any]:
    return union_all(
        select(Host.name).where(_names(Host.parent_name, postgres)),
        select(Host.name)
        .join(DomainNs, DomainNs.host_id == Host.id)
        .join(Domain, Domain.id == DomainNs.domain_id)
        .where(_names(Domain.name, postgres)),
    )


_RELATED_QUERY = {pg: _related_query(pg) for pg in (False, True)}


def recomputed(session: Session, owners: Iterable[str]) -> dict[str, Tally]:
    """The digest of each of ``owners`` from the registry's rows (empty ones included)."""
    wanted = {_absolute(o) for o in owners}
    tallies = {o: Tally() for o in wanted}
    tallies.update(by_owner(registry_records(session, wanted, zone_id=None)))
    return tallies


# --- the ledger ---------------------------------------------------------------------------


def stored(session: Session, owners: Iterable[str]) -> dict[str, Tally]:
    """The ledger's digest of each of ``owners`` (empty when it has no row)."""
    wanted = sorted({_absolute(o) for o in owners})
    found = {o: Tally() for o in wanted}
    columns = [DIGEST.c[c] for c in LIMB_COLUMNS]
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = select(DIGEST.c.owner, DIGEST.c.count, *columns).where(DIGEST.c.owner.in_(chunk))
        for owner, count, *limbs in session.execute(query):
            found[owner] = Tally.from_limbs(count, limbs)
    return found


def table_sum(session: Session, zone_id: int) -> Tally:
    """The sum of the zone ``zone_id``'s ledger: SQL SUM() of each limb of its rows,
    combined here."""
    row = session.execute(
        select(func.sum(DIGEST.c.count), *(func.sum(DIGEST.c[c]) for c in LIMB_COLUMNS)).where(
            DIGEST.c.zone_id == zone_id
        )
    ).one()
    return Tally.from_limbs(row[0], row[1:])


def delta_of(row_delta: str | None, row_count: int | None) -> Tally:
    """A ``zone_change`` row's delta (NULL: none)."""
    return Tally(int(row_delta, 16) % MODULUS if row_delta else 0, int(row_count or 0))


def upsert_values(owner: str, delta: Tally) -> dict[str, Any]:
    limbs = dict(zip(LIMB_COLUMNS, delta.limbs(), strict=True))
    return {"owner": owner, "count": delta.count, **limbs}


def add_to_ledger(
    session: Session, deltas: Mapping[str, Tally], *, zone_id: int | None = None
) -> None:
    """Add each owner's delta to its row (created when missing), only ever an addition
    (concurrent changes commute). A new row names ``zone_id`` when the writer knows every
    owner's zone, else the zone its owner is under (a subquery of the same statement).
    On PostgreSQL one statement for any number of owners (arrays unnested, planned
    once); on SQLite one executemany (no round trips)."""
    rows = [upsert_values(o, d) for o, d in sorted(deltas.items()) if not d.empty]
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        columns = ("owner", "count", *LIMB_COLUMNS)
        values: dict[str, Any] = {c: [r[c] for r in rows] for c in columns}
        if zone_id is not None:
            values["zone_id"] = zone_id
        conn.execute(_PG_UPSERT[zone_id is not None], values)
        return
    if zone_id is not None:
        rows = [{**r, "zone_id": zone_id} for r in rows]
    conn.execute(_SQLITE_UPSERT[zone_id is not None], rows)


def owner_zone(owner: Any) -> Any:
    """The id of the zone ``owner`` (an absolute name) is in, as SQL: the zone whose
    origin is its suffix (zones are not nested: at most one), else zone 1, the column's
    default (a registry with no zone rows). Origins are LDH names (settings), so they
    hold no LIKE wildcard. PostgreSQL's unnest upsert renders this expression as its
    text (``_pg_owner_zone``): the rule is written once."""
    its = select(ZONES.c.id).where(owner.like(literal("%.") + ZONES.c.origin))
    return func.coalesce(its.scalar_subquery(), 1)


def _sqlite_upsert(known: bool) -> Any:
    zone = bindparam("zone_id") if known else owner_zone(bindparam("owner", type_=String))
    columns = ("count", *LIMB_COLUMNS)
    statement = sqlite.insert(DIGEST).values(
        owner=bindparam("owner"), zone_id=zone, **{c: bindparam(c) for c in columns}
    )
    return statement.on_conflict_do_update(
        index_elements=[DIGEST.c.owner],
        set_={c: DIGEST.c[c] + statement.excluded[c] for c in columns},
    )


_SQLITE_UPSERT = {known: _sqlite_upsert(known) for known in (False, True)}


def _pg_owner_zone(owner: str) -> str:
    """``owner_zone`` of the column ``owner`` rendered once as PostgreSQL text, for the
    unnest upsert's ``text()``: the one rule, so SQLite and PostgreSQL cannot drift.
    Rendered with named parameters (nothing to bind: the literals are inlined) so the
    ``%`` of the LIKE pattern stays single; ``text()`` escapes it for the driver."""
    expression = owner_zone(literal_column(owner))
    dialect = PGDialect(paramstyle="named")  # type: ignore[no-untyped-call]  # SQLAlchemy's
    compiled = expression.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return " ".join(str(compiled).split())


_PG_ZONE = {True: "CAST(:zone_id AS int)", False: _pg_owner_zone("u.owner")}
_PG_UPSERT = {
    known: text(
        "INSERT INTO zone_digest AS z (owner, count, "
        + ", ".join(LIMB_COLUMNS)
        + ", zone_id) SELECT u.*, "
        + _PG_ZONE[known]
        + " FROM unnest(CAST(:owner AS text[]), CAST(:count AS bigint[]), "
        + ", ".join(f"CAST(:{c} AS bigint[])" for c in LIMB_COLUMNS)
        + ") AS u(owner, count, "
        + ", ".join(LIMB_COLUMNS)
        + ") ON CONFLICT (owner) DO UPDATE SET count = z.count + EXCLUDED.count, "
        + ", ".join(f"{c} = z.{c} + EXCLUDED.{c}" for c in LIMB_COLUMNS)
    )
    for known in (False, True)
}


def pending_delta(session: Session) -> Tally | None:
    """The delta the transaction's services added to the ledger since the last
    ``zone_change`` row (taken: the next row starts from nothing)."""
    delta: Tally | None = session.info.pop(_DELTA, None)
    return delta


@dataclass(slots=True)
class Watch:
    """The digests of some owners before a service writes (``watch``)."""

    owners: set[str]
    before: dict[str, Tally] = field(default_factory=dict)

    def finish(self, session: Session) -> Tally:
        """After the writes: the owners' digests again, each difference added to the
        ledger, and their sum kept for the transaction's ``zone_change`` row."""
        session.flush()
        after = recomputed(session, self.owners)
        deltas = {o: after[o].minus(self.before.get(o, Tally())) for o in self.owners}
        add_to_ledger(session, deltas)
        total = Tally()
        for d in deltas.values():
            total = total.plus(d)
        if not total.empty:
            session.info[_DELTA] = (session.info.get(_DELTA) or Tally()).plus(total)
        return total


def watch(session: Session, owners: Iterable[str]) -> Watch:
    """Before a service's writes: lock the hosts among ``owners`` (whether a host is glue
    depends on every domain using it: two transactions must not both count it in), and
    take the owners' digests from the rows."""
    wanted = {_absolute(o) for o in owners}
    names = sorted(o[:-1] for o in wanted)
    if session.connection().dialect.name == "postgresql" and names:
        for start in range(0, len(names), 500):
            session.execute(
                select(Host.id)
                .where(Host.name.in_(names[start : start + 500]))
                .order_by(Host.name)
                .with_for_update()
            ).all()
    session.flush()
    return Watch(wanted, recomputed(session, wanted))


def accept_rows(session: Session, name: str, at: datetime, zone_id: int) -> tuple[Tally, Tally]:
    """An operator vouches for the registry's rows at ``name`` as they are (``tldsec zone
    quarantine release --accept-rows``): its digest becomes theirs, the difference a
    ``zone_change`` row's delta of the zone ``zone_id`` like any change's. (the digest
    before, after)."""
    owner = _absolute(name)
    before = stored(session, [owner])[owner]
    after = recomputed(session, [owner])[owner]
    delta = after.minus(before)
    add_to_ledger(session, {owner: delta})
    session.add(
        ZoneChange(
            at=at,
            name=owner[:-1],
            zone_id=zone_id,
            reason="digest-accept",
            digest_delta=None if delta.empty else delta.hex(),
            count_delta=None if delta.empty else delta.count,
        )
    )
    return before, after


def rebuild(session: Session, *, zones: bool = True) -> Tally:
    """Replace the whole ledger, every zone's, by the digests of the registry's rows (a
    registry loaded in bulk); the sum. ``zones`` False: the back-fill of 0004, on a
    schema before zones (one zone; any delegation's glue)."""
    session.execute(delete(DIGEST))
    if zones:
        tallies = by_owner(registry_records(session, zone_id=None))
    else:
        tallies = by_owner(_legacy_records(session))
    rows = [upsert_values(o, t) for o, t in sorted(tallies.items())]
    statement = insert(DIGEST)
    if zones:  # each row in its owner's zone (0004's schema has no zone_id)
        statement = statement.values(
            owner=bindparam("owner"),
            zone_id=owner_zone(bindparam("owner", type_=String)),
            **{c: bindparam(c) for c in ("count", *LIMB_COLUMNS)},
        )
    for start in range(0, len(rows), 5000):
        session.execute(statement, rows[start : start + 5000])
    total = Tally()
    for t in tallies.values():
        total = total.plus(t)
    return total


def differing(
    session: Session, owners: Iterable[str] | None = None, *, zone: tuple[int, str] | None = None
) -> tuple[str, ...]:
    """The owners (of ``owners``, or all of ``zone``: its id and origin) whose ledger row
    differs from the digest of the registry's rows: the second pass that names them."""
    if owners is not None:
        wanted = {_absolute(o) for o in owners}
        rows, ledger = recomputed(session, wanted), stored(session, wanted)
    else:
        if zone is None:
            raise ValueError("differing: name the owners or the zone")
        rows = by_owner(registry_records(session, zone_id=zone[0]))
        ledger = zone_stored(session, zone[0])
    names = set(rows) | set(ledger)
    return tuple(sorted(o for o in names if rows.get(o, Tally()) != ledger.get(o, Tally())))


def zone_stored(session: Session, zone_id: int) -> dict[str, Tally]:
    """Every ledger row of the zone ``zone_id``, by owner."""
    columns = [DIGEST.c[c] for c in LIMB_COLUMNS]
    query = select(DIGEST.c.owner, DIGEST.c.count, *columns).where(DIGEST.c.zone_id == zone_id)
    return {
        owner: Tally.from_limbs(count, limbs) for owner, count, *limbs in session.execute(query)
    }


def _legacy_records(session: Session) -> Iterator[Record]:
    """The registry's records as 0004's back-fill read them (no zones in the schema)."""
    delegated: set[str] = set()
    for domain, host in _rows(session, _NS_QUERY, Domain.name, None):
        delegated.add(domain)
        yield canonical(f"{domain}.", "NS", f"{host}.")
    for domain, tag, alg, dtype, digest in _rows(session, _DS_QUERY, Domain.name, None):
        if domain in delegated:
            yield canonical(f"{domain}.", "DS", f"{tag} {alg} {dtype} {digest}")
    for host, version, address in _rows(session, _GLUE_QUERY, Host.name, None):
        yield canonical(f"{host}.", "A" if version == 4 else "AAAA", address)


def _absolute(name: str) -> str:
    return name.lower() if name.endswith(".") else name.lower() + "."
