"""Importing a checked deposit (``check.py``) into the registry in batches.

One transaction per batch of objects (registrars, then contacts, hosts, domains), each
with its history rows (action ``import``) and, for every domain with name servers and
every host under the TLD, a zone-change row, so the next cycle rebuilds what changed
(a large import makes it a full build). Row ids are taken in blocks (SQLite: above the
table's largest, under the write lock; PostgreSQL: the table's sequence), so rows go in
without a round trip each: COPY on PostgreSQL (psycopg), executemany on SQLite.

authInfo values that are Argon2id hashes are kept as they are; plain values are hashed
in a process pool before the first transaction. An object without authInfo gets a value
that never verifies (a registrar sets a new one with an EPP update). Imported
registrars get a password hash that never verifies: ``tldsec registrar passwd`` sets it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

from argon2 import PasswordHasher
from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from tldsec.registry import zonedigest
from tldsec.registry.accreditation import accredit_for_the_only_zone
from tldsec.registry.context import Tx
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.deposit.check import Checked, Existing
from tldsec.registry.deposit.objects import Deposit, is_hash
from tldsec.registry.models import (
    FIRST_ZONE,
    Contact,
    ContactStatus,
    Domain,
    DomainContact,
    DomainNs,
    DomainStatus,
    DsRecord,
    HistoryEntry,
    Host,
    HostAddress,
    HostStatus,
    Registrar,
    ZoneChange,
)
from tldsec.registry.names import superordinate

NEVER_VERIFIES = "!imported-without-authinfo"  # not a PHC string: verify() says no
BATCH = 20_000


@dataclass(frozen=True, slots=True)
class Imported:
    """How many objects of each kind were written."""

    registrars: int = 0
    contacts: int = 0
    hosts: int = 0
    domains: int = 0
    ds: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "registrars": self.registrars,
            "contacts": self.contacts,
            "hosts": self.hosts,
            "domains": self.domains,
            "ds": self.ds,
        }


def existing(session: Session) -> Existing:
    """The registry's registrars and object names, for ``check``."""
    return Existing(
        registrars={c: i for c, i in session.execute(select(Registrar.client_id, Registrar.id))},
        contacts=frozenset(session.scalars(select(Contact.handle))),
        hosts=frozenset(session.scalars(select(Host.name))),
        domains=frozenset(session.scalars(select(Domain.name))),
    )


# --- authInfo --------------------------------------------------------------------------------


def _hash_chunk(params: tuple[int, int, int], values: list[str]) -> list[str]:
    hasher = PasswordHasher(time_cost=params[0], memory_cost=params[1], parallelism=params[2])
    return [hasher.hash(v) for v in values]


def hash_plain(hasher: PasswordHasher, values: Sequence[str], workers: int | None) -> list[str]:
    """Argon2id hashes of ``values`` in order, computed by a pool of ``workers`` processes
    (default: one per CPU) when there are many."""
    params = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if len(values) < 64 or workers == 1:
        return _hash_chunk(params, list(values))
    workers = workers or os.cpu_count() or 1
    size = max(16, len(values) // (workers * 8))
    chunks = [list(values[i : i + size]) for i in range(0, len(values), size)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = pool.map(_hash_chunk, [params] * len(chunks), chunks)
        return [h for chunk in results for h in chunk]


def _auth_hashes(
    deposit: Deposit, hasher: PasswordHasher, workers: int | None
) -> dict[tuple[str, str], str]:
    plain: list[tuple[tuple[str, str], str]] = []
    found: dict[tuple[str, str], str] = {}
    for kind, objects in (("contact", deposit.contacts), ("domain", deposit.domains)):
        for obj in objects:
            key = (kind, obj.handle if kind == "contact" else obj.name)  # type: ignore[union-attr]
            value = deposit.auth.get(key, obj.auth)
            if value is None:
                found[key] = NEVER_VERIFIES
            elif is_hash(value):
                found[key] = value
            else:
                plain.append((key, value))
    hashed = hash_plain(hasher, [v for _, v in plain], workers)
    found.update((key, h) for (key, _), h in zip(plain, hashed, strict=True))
    return found


# --- writing ---------------------------------------------------------------------------------


def load(
    db: RegistryDatabase,
    checked: Checked,
    tx: Tx,
    *,
    batch: int = BATCH,
    workers: int | None = None,
) -> Imported:
    """Write the checked objects, one transaction per ``batch`` objects."""
    deposit = checked.deposit
    auth = _auth_hashes(deposit, tx.hasher, workers)
    ds_count = 0
    with db.write() as session:
        for r in deposit.registrars:
            registrar = Registrar(
                client_id=r.client_id,
                name=r.name,
                email=r.email,
                password_hash=r.password_hash or NEVER_VERIFIES,
                created_at=r.created_at or tx.now,
            )
            session.add(registrar)
            session.flush()
            # As a registrar added by hand: accredited for a one-zone registry's zone
            # (decision 61), so its imported domains are its to manage over EPP.
            accredit_for_the_only_zone(session, registrar.id, registrar.created_at)
            _history(session, tx, [("registrar", r.client_id)])
    for chunk in _chunks(deposit.contacts, batch):
        with db.write() as session:
            ids = _registrar_ids(session)
            new_ids = _allocate(session, Contact, len(chunk))
            rows, statuses = [], []
            for n, c in enumerate(chunk):
                cid = new_ids[n]
                rows.append(
                    {
                        "id": cid,
                        "handle": c.handle,
                        "registrar_id": ids[c.registrar],
                        "creator_id": ids.get(c.creator or c.registrar, ids[c.registrar]),
                        "updater_id": ids.get(c.updater) if c.updater else None,
                        "postal_json": json.dumps(list(c.postal), sort_keys=True),
                        "voice": c.voice,
                        "fax": c.fax,
                        "email": c.email,
                        "auth_hash": auth[("contact", c.handle)],
                        "created_at": c.created_at or tx.now,
                        "updated_at": c.updated_at,
                    }
                )
                statuses += [{"contact_id": cid, "status": s} for s in c.statuses]
            _put(session, Contact, rows)
            _put(session, ContactStatus, statuses)
            _history(session, tx, [("contact", c.handle) for c in chunk])
    for chunk in _chunks(deposit.hosts, batch):
        with db.write() as session:
            ids = _registrar_ids(session)
            new_ids = _allocate(session, Host, len(chunk))
            rows, addresses, statuses, zone = [], [], [], []
            for n, h in enumerate(chunk):
                hid = new_ids[n]
                parent = superordinate(h.name, tx.rules.origin)
                rows.append(
                    {
                        "id": hid,
                        "name": h.name,
                        "registrar_id": ids[h.registrar],
                        "creator_id": ids.get(h.creator or h.registrar, ids[h.registrar]),
                        "updater_id": ids.get(h.updater) if h.updater else None,
                        "parent_name": parent,
                        # The zone it is in-bailiwick of (decision 57): a one-zone
                        # registry's, as its domains take the database's default.
                        "zone_id": None if parent is None else (tx.rules.zone_id or FIRST_ZONE),
                        "created_at": h.created_at or tx.now,
                        "updated_at": h.updated_at,
                    }
                )
                addresses += [{"host_id": hid, "address": a, "version": v} for a, v in h.addresses]
                statuses += [{"host_id": hid, "status": s} for s in h.statuses]
                if parent is not None:
                    zone.append((h.name, "host-import"))
            _put(session, Host, rows)
            _put(session, HostAddress, addresses)
            _put(session, HostStatus, statuses)
            _history(session, tx, [("host", h.name) for h in chunk])
            _zone_changes(session, tx, zone)
    for chunk in _chunks(deposit.domains, batch):
        with db.write() as session:
            ids = _registrar_ids(session)
            hosts = _ids_by_name(session, Host, Host.name, {n for d in chunk for n in d.ns})
            handles = {h for d in chunk for _, h in d.contacts} | {
                d.registrant for d in chunk if d.registrant
            }
            contacts = _ids_by_name(session, Contact, Contact.handle, handles)
            new_ids = _allocate(session, Domain, len(chunk))
            rows, statuses, ns, ds, links, zone = [], [], [], [], [], []
            for n, d in enumerate(chunk):
                did = new_ids[n]
                rows.append(
                    {
                        "id": did,
                        "name": d.name,
                        "registrar_id": ids[d.registrar],
                        "creator_id": ids.get(d.creator or d.registrar, ids[d.registrar]),
                        "updater_id": ids.get(d.updater) if d.updater else None,
                        "registrant_id": contacts[d.registrant] if d.registrant else None,
                        "auth_hash": auth[("domain", d.name)],
                        "created_at": d.created_at,
                        "updated_at": d.updated_at,
                        "expires_at": d.expires_at,
                    }
                )
                statuses += [{"domain_id": did, "status": s} for s in d.statuses]
                ns += [{"domain_id": did, "host_id": hosts[h]} for h in d.ns]
                ds += [
                    {
                        "domain_id": did,
                        "key_tag": x.key_tag,
                        "algorithm": x.algorithm,
                        "digest_type": x.digest_type,
                        "digest": x.digest,
                    }
                    for x in d.ds
                ]
                links += [
                    {"domain_id": did, "contact_id": contacts[h], "kind": k} for k, h in d.contacts
                ]
                if d.ns:
                    zone.append((d.name, "domain-import"))
            # The registry's zone digest of the domains and the hosts they use (glue),
            # in the batch's transaction like every service's change (decision 42). The
            # new domains have no records yet: only the hosts' digests are read before
            # the rows (and the hosts locked, as ``watch`` does for a service); reading
            # the domains' too doubled the import's time (docs/benchmarks.md).
            watched = zonedigest.watch(session, sorted({n for d in chunk for n in d.ns}))
            watched.owners.update(f"{d.name}." for d in chunk)
            _put(session, Domain, rows)
            _put(session, DomainStatus, statuses)
            _put(session, DomainNs, ns)
            _put(session, DsRecord, ds)
            _put(session, DomainContact, links)
            _history(session, tx, [("domain", d.name) for d in chunk])
            watched.finish(session)
            _zone_changes(session, tx, zone, zonedigest.pending_delta(session))
            ds_count += len(ds)
    return Imported(
        registrars=len(deposit.registrars),
        contacts=len(deposit.contacts),
        hosts=len(deposit.hosts),
        domains=len(deposit.domains),
        ds=ds_count,
    )


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _registrar_ids(session: Session) -> dict[str, int]:
    return {c: i for c, i in session.execute(select(Registrar.client_id, Registrar.id))}


def _ids_by_name(session: Session, model: Any, column: Any, names: Iterable[str]) -> dict[str, int]:
    wanted = sorted(names)
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        query = select(column, model.id).where(column.in_(wanted[start : start + 500]))
        found.update({n: i for n, i in session.execute(query)})
    return found


def _allocate(session: Session, model: Any, count: int) -> list[int]:
    """``count`` row ids nobody else will use."""
    table = cast(Table, model.__table__)
    if session.connection().dialect.name == "sqlite":
        # The write transaction began IMMEDIATE: no other writer until it ends.
        top = int(session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0)
        return list(range(top + 1, top + 1 + count))
    # The table's own sequence, as EPP's inserts use it: never a clash with them.
    query = text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)")
    return [int(v) for v in session.scalars(query, {"t": table.name, "n": count})]


def _put(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows``: COPY on PostgreSQL (psycopg), executemany elsewhere."""
    if not rows:
        return
    table = cast(Table, model.__table__)
    connection = session.connection()
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        columns = list(rows[0])
        raw = connection.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cursor:  # type: ignore[attr-defined]
            statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
        return
    connection.execute(insert(table), rows)


def _history(session: Session, tx: Tx, objects: Sequence[tuple[str, str]]) -> None:
    detail = json.dumps({"sv_trid": tx.sv_trid}, sort_keys=True)
    _put(
        session,
        HistoryEntry,
        [
            {
                "at": tx.now,
                "client_id": tx.actor.client_id,
                "object_type": kind,
                "object_name": name,
                "action": "import",
                "sv_trid": tx.sv_trid,
                "cl_trid": tx.cl_trid,
                "detail": detail,
            }
            for kind, name in objects
        ],
    )


def _zone_changes(
    session: Session,
    tx: Tx,
    names: Sequence[tuple[str, str]],
    delta: zonedigest.Tally | None = None,
) -> None:
    """The zone-change rows; the batch's zone digest delta rides on the first (the
    running sum needs only the sum of the rows' deltas)."""
    rows: list[dict[str, Any]] = [
        {"at": tx.now, "name": name, "reason": reason, "digest_delta": None, "count_delta": None}
        for name, reason in names
    ]
    if delta is not None and not delta.empty:
        if not rows:
            rows.append({"at": tx.now, "name": "", "reason": "digest-import"})
        rows[0].update(digest_delta=delta.hex(), count_delta=delta.count)
    _put(session, ZoneChange, rows)
