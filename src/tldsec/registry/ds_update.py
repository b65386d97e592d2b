"""The DS-only domain update without the ORM: the registry's hot path.

Most transforms a registry sees are DS changes (DPS 3.3, 3.5): a ``domain:update``
with only a ``secDNS:update``. This module does exactly what ``update_domain`` does for
such a request -- the authorization rule, the status rules, every DS rule checked
before anything is written, the history and zone-change rows in the same transaction,
the audit event, the zone digest's delta (decision 42: computed here from the rows read,
sent with the writes, so no round trip more) -- with statements on the session's
connection and no ORM objects: two reads (the domain row, locked; its statuses, DS and
whether it has name servers in one statement) and the writes. On
SQLite these are Core statements; on PostgreSQL prepared statements on libpq
(``db/pgwire.py``) in two round trips, the writes sent with the transaction-log row and
the COMMIT. A domain with a pending transfer is left to ``update_domain``, which settles
an overdue transfer first (RFC 5731 3.2.4).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from psycopg.pq.abc import PGresult
from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    delete,
    exists,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from tldsec.db.pgwire import Prepared, begin, defer, pipeline, value
from tldsec.errors import DsRejected, ObjectNotFound
from tldsec.registry import zonedigest
from tldsec.registry.context import Tx
from tldsec.registry.ds_rules import DsData, apply_ds_change
from tldsec.registry.models import (
    FIRST_ZONE,
    Domain,
    DomainNs,
    DomainStatus,
    DsRecord,
    HistoryEntry,
    ZoneChange,
)
from tldsec.registry.names import check_domain_name
from tldsec.registry.objects import require_sponsor
from tldsec.registry.statuses import HOLD, check_update_allowed

DOMAIN = cast(Table, Domain.__table__)
STATUS = cast(Table, DomainStatus.__table__)
DS = cast(Table, DsRecord.__table__)
NS = cast(Table, DomainNs.__table__)
HISTORY = cast(Table, HistoryEntry.__table__)
ZONE_CHANGE = cast(Table, ZoneChange.__table__)

# The statements, built once (building and cache-keying a statement per call costs
# more CPU than PostgreSQL spends running it).
LOCK_DOMAIN = (
    select(DOMAIN.c.id, DOMAIN.c.registrar_id, DOMAIN.c.transfer_status)
    .where(DOMAIN.c.name == bindparam("name"))
    .with_for_update()
)
STATUSES_AND_DS = union_all(
    select(
        literal("s").label("kind"),
        STATUS.c.status.label("text"),
        literal(0).label("key_tag"),
        literal(0).label("algorithm"),
        literal(0).label("digest_type"),
    ).where(STATUS.c.domain_id == bindparam("domain_id")),
    select(
        literal("d").label("kind"),
        DS.c.digest.label("text"),
        DS.c.key_tag,
        DS.c.algorithm,
        DS.c.digest_type,
    ).where(DS.c.domain_id == bindparam("domain_id")),
    select(
        literal("n").label("kind"),
        literal("").label("text"),
        literal(0).label("key_tag"),
        literal(0).label("algorithm"),
        literal(0).label("digest_type"),
    ).where(exists().where(NS.c.domain_id == bindparam("domain_id"))),
)
DELETE_DS = delete(DS).where(
    DS.c.domain_id == bindparam("b_domain_id"),
    DS.c.key_tag == bindparam("b_key_tag"),
    DS.c.algorithm == bindparam("b_algorithm"),
    DS.c.digest_type == bindparam("b_digest_type"),
    DS.c.digest == bindparam("b_digest"),
)
INSERT_DS = insert(DS)
TOUCH_DOMAIN = (
    update(DOMAIN)
    .where(DOMAIN.c.id == bindparam("b_id"))
    .values(updated_at=bindparam("b_at"), updater_id=bindparam("b_by"))
)
INSERT_HISTORY = insert(HISTORY)
INSERT_ZONE_CHANGE = insert(ZONE_CHANGE)


@dataclass(frozen=True, slots=True)
class DsUpdate:
    """A ``domain:update`` whose only change is a ``secDNS:update`` (RFC 5910 3.2.5)."""

    name: str
    remove_all: bool = False
    remove: tuple[DsData, ...] = ()
    add: tuple[DsData, ...] = ()


def update_ds(session: Session, tx: Tx, req: DsUpdate) -> bool:
    """Apply the DS change; False (nothing done) when ``update_domain`` must handle it.

    Raises the registry's errors exactly as ``update_domain`` does, before any write.
    """
    name = check_domain_name(req.name, tx.rules.origin)
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    rows: Sequence[Sequence[Any]] = []
    if postgres:
        row, rows = _pg_lock_and_read(conn, name)
    else:
        row = conn.execute(LOCK_DOMAIN, {"name": name}).one_or_none()
    if row is None:
        raise ObjectNotFound(f"domain {name!r} does not exist")
    domain_id, sponsor_id, transfer_status = row
    if transfer_status == "pending":
        return False  # update_domain settles or refuses it
    require_sponsor(tx, sponsor_id, f"domain {name!r}")
    if not postgres:
        rows = list(conn.execute(STATUSES_AND_DS, {"domain_id": domain_id}))
    stored, current, has_ns = _statuses_and_ds(rows)
    check_update_allowed(name, transfer_status, stored, (), by_registry=tx.actor.is_registry)

    # DS (DPS 3.3): every rule is checked before anything is written.
    change = apply_ds_change(
        current, remove=req.remove, remove_all=req.remove_all, add=req.add, policy=tx.rules.ds
    )
    if not change.ok:
        raise DsRejected(change.violations)
    new, old = set(change.records), set(current)
    removed = [d for d in current if d not in new]
    added = [d for d in change.records if d not in old]

    history = _history_row(tx, name, added, removed)
    # The zone holds a domain's DS only while it is delegated: name servers, no hold.
    delta = zonedigest.Tally()
    if has_ns and not stored & HOLD:
        for d in added:
            delta.add(_ds_record(name, d))
        for d in removed:
            delta.remove(_ds_record(name, d))
    if postgres:
        _defer_writes(session, conn, tx, domain_id, name, added, removed, history, delta)
    else:
        _write(session, conn, tx, domain_id, name, added, removed, history, delta)
    if added or removed:
        tx.audit(
            "registry.ds.change",
            actor=tx.actor.client_id,
            domain=name,
            added=[str(d) for d in added],
            removed=[str(d) for d in removed],
            # DPS 3.5: removing every DS removes the chain of trust at the next build.
            chain_of_trust_removed=bool(current) and not new,
        )
    return True


def _history_row(
    tx: Tx, name: str, added: Sequence[DsData], removed: Sequence[DsData]
) -> dict[str, object]:
    """The history row ``update_domain`` writes for a DS-only update (STYLE 7)."""
    detail: dict[str, object] = {
        "ns_added": [],
        "ns_removed": [],
        "status_added": [],
        "status_removed": [],
        "ds_added": [str(d) for d in added],
        "ds_removed": [str(d) for d in removed],
    }
    return {
        "at": tx.now,
        "client_id": tx.actor.client_id,
        "object_type": "domain",
        "object_name": name,
        "action": "update",
        "sv_trid": tx.sv_trid,
        "cl_trid": tx.cl_trid,
        "detail": json.dumps(detail, sort_keys=True, default=str),
    }


def _ds_record(name: str, ds: DsData) -> zonedigest.Record:
    text = f"{ds.key_tag} {ds.algorithm} {ds.digest_type} {ds.digest}"
    return zonedigest.canonical(f"{name}.", "DS", text)


def _write(
    session: Session,
    conn: Connection,
    tx: Tx,
    domain_id: int,
    name: str,
    added: Sequence[DsData],
    removed: Sequence[DsData],
    history: dict[str, object],
    delta: zonedigest.Tally,
) -> None:
    """The writes, one statement each (SQLite)."""
    if removed:
        conn.execute(DELETE_DS, [_ds_values(domain_id, d, "b_") for d in removed])
    if added:
        conn.execute(INSERT_DS, [_ds_values(domain_id, d) for d in added])
    conn.execute(TOUCH_DOMAIN, {"b_id": domain_id, "b_at": tx.now, "b_by": tx.actor.registrar_id})
    conn.execute(INSERT_HISTORY, history)
    if added or removed:
        zonedigest.add_to_ledger(session, {f"{name}.": delta}, zone_id=_zone_id(tx))
        conn.execute(
            INSERT_ZONE_CHANGE,
            {
                "at": tx.now,
                "name": name,
                "reason": "domain-update",
                "digest_delta": None if delta.empty else delta.hex(),
                "count_delta": None if delta.empty else delta.count,
                "sv_trid": tx.sv_trid,
                "cl_trid": tx.cl_trid,
                "registrar_id": tx.actor.registrar_id,
                "zone_id": _zone_id(tx),
            },
        )


def _zone_id(tx: Tx) -> int:
    """The zone of the change's row: its domain's (the command's rules, routed by zone,
    decision 61), as ``history.record`` writes it; the column's default, zone 1, for a
    registry without zones."""
    return FIRST_ZONE if tx.rules.zone_id is None else tx.rules.zone_id


# PostgreSQL runs every data-modifying WITH part exactly once, to completion: the same
# writes as ``_write`` in one statement. A DS is never both removed and added. Every value
# is cast: a prepared statement's parameter types come from the statement alone.
_PG_WRITE = Prepared.of(
    "ds_write",
    """
WITH removed AS (
    DELETE FROM ds_record r
    USING unnest(%(rm_tag)s::int[], %(rm_alg)s::int[], %(rm_dt)s::int[], %(rm_digest)s::text[])
        AS x(key_tag, algorithm, digest_type, digest)
    WHERE r.domain_id = %(domain_id)s::int AND r.key_tag = x.key_tag
      AND r.algorithm = x.algorithm AND r.digest_type = x.digest_type AND r.digest = x.digest
), added AS (
    INSERT INTO ds_record (domain_id, key_tag, algorithm, digest_type, digest)
    SELECT %(domain_id)s::int, * FROM unnest(
        %(add_tag)s::int[], %(add_alg)s::int[], %(add_dt)s::int[], %(add_digest)s::text[])
), touched AS (
    UPDATE domain SET updated_at = %(at)s::timestamptz, updater_id = %(by)s::int
     WHERE id = %(domain_id)s::int
), changed AS (
    INSERT INTO zone_change
        (at, name, reason, digest_delta, count_delta, sv_trid, cl_trid, registrar_id, zone_id)
    SELECT %(at)s::timestamptz, %(object_name)s::text, 'domain-update',
           %(digest_delta)s::text, %(count_delta)s::int, %(sv_trid)s::text,
           %(cl_trid)s::text, %(by)s::int, %(zone_id)s::int
     WHERE %(zone)s::boolean
), digested AS (
    INSERT INTO zone_digest AS z (owner, count, d0, d1, d2, d3, d4, d5, d6, d7, zone_id)
    SELECT %(owner)s::text, %(count)s::bigint, %(d0)s::bigint, %(d1)s::bigint,
           %(d2)s::bigint, %(d3)s::bigint, %(d4)s::bigint, %(d5)s::bigint,
           %(d6)s::bigint, %(d7)s::bigint, %(zone_id)s::int
     WHERE %(digest_delta)s::text IS NOT NULL
    ON CONFLICT (owner) DO UPDATE SET
        count = z.count + EXCLUDED.count, d0 = z.d0 + EXCLUDED.d0, d1 = z.d1 + EXCLUDED.d1,
        d2 = z.d2 + EXCLUDED.d2, d3 = z.d3 + EXCLUDED.d3, d4 = z.d4 + EXCLUDED.d4,
        d5 = z.d5 + EXCLUDED.d5, d6 = z.d6 + EXCLUDED.d6, d7 = z.d7 + EXCLUDED.d7
)
INSERT INTO registry_history
    (at, client_id, object_type, object_name, action, sv_trid, cl_trid, detail)
VALUES (%(at)s::timestamptz, %(client_id)s::text, %(object_type)s::text, %(object_name)s::text,
        %(action)s::text, %(sv_trid)s::text, %(cl_trid)s::text, %(detail)s::text)
""",
)


def _defer_writes(
    session: Session,
    conn: Connection,
    tx: Tx,
    domain_id: int,
    name: str,
    added: Sequence[DsData],
    removed: Sequence[DsData],
    history: dict[str, object],
    delta: zonedigest.Tally,
) -> None:
    """The writes of ``_write`` in one statement, sent with the commit (PostgreSQL)."""
    values = {
        **history,
        **zonedigest.upsert_values(f"{name}.", delta),
        "digest_delta": None if delta.empty else delta.hex(),
        "count_delta": None if delta.empty else delta.count,
        "domain_id": domain_id,
        "by": tx.actor.registrar_id,
        "zone": bool(added or removed),
        "zone_id": _zone_id(tx),
        "rm_tag": [d.key_tag for d in removed],
        "rm_alg": [d.algorithm for d in removed],
        "rm_dt": [d.digest_type for d in removed],
        "rm_digest": [d.digest for d in removed],
        "add_tag": [d.key_tag for d in added],
        "add_alg": [d.algorithm for d in added],
        "add_dt": [d.digest_type for d in added],
        "add_digest": [d.digest for d in added],
    }
    defer(session, (_PG_WRITE, values))


# PostgreSQL (db/pgwire.py): BEGIN, the lock and the reads in one round trip. The
# reads are a statement of their own, after the lock's: it runs on a snapshot of its own
# (READ COMMITTED), taken once the lock is held, so it sees what the lock's previous holder
# committed. It finds the domain by name: the locked row's name cannot change under us.
_PG_LOCK = Prepared.of(
    "ds_lock",
    "SELECT id, registrar_id, transfer_status FROM domain WHERE name = %(name)s FOR UPDATE",
)
_PG_READ = Prepared.of(
    "ds_read",
    """
SELECT 's', status, 0, 0, 0 FROM domain_status
 WHERE domain_id = (SELECT id FROM domain WHERE name = %(name)s::text)
UNION ALL
SELECT 'd', digest, key_tag, algorithm, digest_type FROM ds_record
 WHERE domain_id = (SELECT id FROM domain WHERE name = %(name)s::text)
UNION ALL
SELECT 'n', '', 0, 0, 0 WHERE EXISTS (
    SELECT 1 FROM domain_ns WHERE domain_id = (SELECT id FROM domain WHERE name = %(name)s::text))
""",
)


def _pg_lock_and_read(
    conn: Connection, name: str
) -> tuple[tuple[int, int, str | None] | None, list[tuple[Any, ...]]]:
    """The locked domain row (id, sponsor, transfer status) and its statuses and DS."""
    key = {"name": name}
    locked, found = pipeline(conn, [*begin(conn), (_PG_LOCK, key), (_PG_READ, key)])[-2:]
    if locked.ntuples == 0:
        return None, []
    row = (_int(locked, 0, 0), _int(locked, 0, 1), value(locked, 0, 2))
    rows = [
        (value(found, i, 0), value(found, i, 1), *(_int(found, i, c) for c in (2, 3, 4)))
        for i in range(found.ntuples)
    ]
    return row, rows


def _int(result: PGresult, row: int, column: int) -> int:
    return int(result.get_value(row, column) or b"0")


def _statuses_and_ds(rows: Iterable[Sequence[Any]]) -> tuple[set[str], list[DsData], bool]:
    """The domain's stored statuses, its DS records and whether it has name servers,
    from ``STATUSES_AND_DS``'s rows."""
    stored: set[str] = set()
    ds: list[DsData] = []
    has_ns = False
    for kind, text, key_tag, algorithm, digest_type in rows:
        if kind == "s":
            stored.add(text)
        elif kind == "n":
            has_ns = True
        else:
            ds.append(DsData(key_tag, algorithm, digest_type, text))
    return stored, ds, has_ns


def _ds_values(domain_id: int, ds: DsData, prefix: str = "") -> dict[str, object]:
    return {
        f"{prefix}domain_id": domain_id,
        f"{prefix}key_tag": ds.key_tag,
        f"{prefix}algorithm": ds.algorithm,
        f"{prefix}digest_type": ds.digest_type,
        f"{prefix}digest": ds.digest,
    }
