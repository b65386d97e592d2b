"""Reading the audit database: entries by filter, checkpoints, archive records; exports.

Reads page through the entries by sequence number (keyset pagination), so a million
entries stream in constant memory on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, Select, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from tldsec.audit.entry import Checkpoint, Entry, format_time
from tldsec.audit.events import Level
from tldsec.audit.models import ARCHIVES, CHECKPOINTS, ENTRIES, HEAD
from tldsec.errors import AuditError

PAGE = 5000


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Which entries to show or export; every field narrows, ``None`` means any.

    ``events`` are event types, or category prefixes ending in a dot (``key.``);
    ``actor`` is ``kind:name`` or just ``kind:`` for every actor of a kind; ``zone``
    keeps the entries of that zone and those that name none (installation-wide, or
    written before entries named their zone: they concern every zone; decisions.md 58).
    """

    since: datetime | None = None
    until: datetime | None = None
    events: tuple[str, ...] = ()
    actor: str | None = None
    min_level: Level | None = None
    from_seq: int | None = None
    to_seq: int | None = None
    limit: int | None = None
    zone: str | None = None

    @property
    def whole_chain(self) -> bool:
        """Whether the selection is a contiguous piece of the chain (so it verifies)."""
        return not (
            self.since
            or self.until
            or self.events
            or self.actor
            or self.min_level
            or self.limit
            or self.zone
        )


def _where(query: Select[Any], flt: EntryFilter) -> Select[Any]:
    c = ENTRIES.c
    if flt.since is not None:
        query = query.where(c.time >= flt.since)
    if flt.until is not None:
        query = query.where(c.time < flt.until)
    if flt.events:
        exact = [e for e in flt.events if not e.endswith(".")]
        prefixes = [e for e in flt.events if e.endswith(".")]
        query = query.where(
            or_(c.event.in_(exact), *(c.event.startswith(p, autoescape=True) for p in prefixes))
        )
    if flt.actor is not None:
        if flt.actor.endswith(":"):
            query = query.where(c.actor.startswith(flt.actor, autoescape=True))
        else:
            query = query.where(c.actor == flt.actor)
    if flt.min_level is not None:
        query = query.where(
            c.level.in_([lv.value for lv in Level if lv.rank >= flt.min_level.rank])
        )
    if flt.zone is not None:
        query = query.where(or_(c.zone == flt.zone, c.zone.is_(None)))
    if flt.from_seq is not None:
        query = query.where(c.seq >= flt.from_seq)
    if flt.to_seq is not None:
        query = query.where(c.seq <= flt.to_seq)
    return query


def entry_from_row(row: Any) -> Entry:
    return Entry(
        seq=row.seq,
        time=row.time,
        actor=row.actor,
        event=row.event,
        level=row.level,
        details=row.details,
        prev_hash=row.prev_hash,
        hash=row.hash,
        zone=row.zone,
    )


def iter_entries(engine: Engine, flt: EntryFilter = EntryFilter()) -> Iterator[Entry]:
    """Entries in sequence order, a page at a time."""
    after: int | None = None
    remaining = flt.limit
    try:
        while remaining is None or remaining > 0:
            size = PAGE if remaining is None else min(PAGE, remaining)
            query = _where(select(ENTRIES), flt).order_by(ENTRIES.c.seq).limit(size)
            if after is not None:
                query = query.where(ENTRIES.c.seq > after)
            with engine.connect() as conn:
                rows = conn.execute(query).all()
            for row in rows:
                yield entry_from_row(row)
            if len(rows) < size:
                return
            after = rows[-1].seq
            if remaining is not None:
                remaining -= len(rows)
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit log: {exc}") from exc


def count_entries(engine: Engine, flt: EntryFilter = EntryFilter()) -> int:
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(_where(select(func.count()).select_from(ENTRIES), flt)).scalar_one()
            )
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit log: {exc}") from exc


def checkpoint_from_row(row: Any) -> Checkpoint:
    return Checkpoint(
        seq=row.seq,
        head_hash=row.head_hash,
        time=row.time,
        key_id=row.key_id,
        signature=bytes.fromhex(row.signature),
    )


def load_checkpoints(
    engine: Engine, from_seq: int | None = None, to_seq: int | None = None
) -> list[Checkpoint]:
    query = select(CHECKPOINTS).order_by(CHECKPOINTS.c.seq)
    if from_seq is not None:
        query = query.where(CHECKPOINTS.c.seq >= from_seq)
    if to_seq is not None:
        query = query.where(CHECKPOINTS.c.seq <= to_seq)
    try:
        with engine.connect() as conn:
            return [checkpoint_from_row(r) for r in conn.execute(query)]
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit checkpoints: {exc}") from exc


@dataclass(frozen=True, slots=True)
class ArchiveRecord:
    """The database's record of one archive file (insert-only, like the entries)."""

    first_seq: int
    last_seq: int
    prev_hash: str
    head_hash: str
    newest_time: datetime
    file_name: str
    file_sha256: str
    created: datetime
    key_id: str


def load_archive_records(conn_or_engine: Engine | Connection) -> list[ArchiveRecord]:
    query = select(ARCHIVES).order_by(ARCHIVES.c.last_seq)
    try:
        if isinstance(conn_or_engine, Connection):
            rows = conn_or_engine.execute(query).all()
        else:
            with conn_or_engine.connect() as conn:
                rows = conn.execute(query).all()
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit archive records: {exc}") from exc
    return [
        ArchiveRecord(
            first_seq=r.first_seq,
            last_seq=r.last_seq,
            prev_hash=r.prev_hash,
            head_hash=r.head_hash,
            newest_time=r.newest_time,
            file_name=r.file_name,
            file_sha256=r.file_sha256,
            created=r.created,
            key_id=r.key_id,
        )
        for r in rows
    ]


def head_row(engine: Engine) -> tuple[int, str]:
    try:
        with engine.connect() as conn:
            row = conn.execute(select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)).one()
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit log head: {exc}") from exc
    return int(row.seq), str(row.hash)


def write_jsonl(
    out: TextIO, entries: Iterable[Entry], checkpoints: Iterable[Checkpoint] = ()
) -> int:
    """One JSON object per line: entries, then the checkpoints that vouch for them."""
    n = 0
    for entry in entries:
        out.write(json.dumps(entry.to_record(), sort_keys=True, ensure_ascii=False) + "\n")
        n += 1
    for cp in checkpoints:
        out.write(json.dumps(cp.to_record(), sort_keys=True) + "\n")
    return n


# "zone" last, so the columns readers had keep their places (empty: names none).
CSV_FIELDS = ("seq", "time", "level", "event", "actor", "details", "prev_hash", "hash", "zone")


def write_csv(out: TextIO, entries: Iterable[Entry]) -> int:
    """RFC 4180 CSV with a header; details as canonical JSON in one column."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    n = 0
    for e in entries:
        details = json.dumps(e.details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        writer.writerow(
            (
                e.seq,
                format_time(e.time),
                e.level,
                e.event,
                e.actor,
                details,
                e.prev_hash,
                e.hash,
                e.zone or "",
            )
        )
        n += 1
    return n
