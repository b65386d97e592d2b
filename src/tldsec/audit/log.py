"""The append-only writer: ``audit.record(event, actor=..., **details)``.

Every writer, in any process, takes the next sequence number under one lock held for
the whole transaction (DPS 4.4.1 "serial or sequence number"): SQLite by ``BEGIN
IMMEDIATE``, PostgreSQL by ``SELECT ... FOR UPDATE`` on the single ``audit_head`` row.
A failed transaction leaves no number used, so numbers are gap-free and distinct.

Concurrent ``record`` calls in one process share a transaction (group commit): while
one thread's transaction runs, the entries other threads ask for queue up, and the next
of them appends them all in one transaction, in queue order. Each call still returns
only after its own entry is committed, and the numbering, the chain and the lock are
those of a single append; a failed transaction fails every call in it and uses no
number. With many EPP sessions this makes the cost per entry a fraction of a
transaction instead of one each. On PostgreSQL an append is two round trips: BEGIN with
the locked head read, then every write with the COMMIT.

In the same transaction the writer notices clock anomalies (DPS 4.4.1, 5.7): a time
behind the previous entry's, and the kernel's "not synchronised" status, each recorded
as an entry of its own before the caller's. It also signs a checkpoint when one is due
(every ``checkpoint_every`` entries or ``checkpoint_interval``), and ``checkpoint()``
signs one on demand: the cycle calls it at the end of every cycle.

Each entry names the zone it concerns (issue 19, decisions.md 58): the ``zone`` its
writer gives, else, for an event the catalogue says concerns a zone, the log's
``zone`` (the home's origin); installation-wide events and the log's own entries
(clock, unsigned checkpoint) name none unless their writer names one.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from psycopg.pq.abc import PGresult
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from tldsec.audit.anchors import CheckpointAnchor, publish_all
from tldsec.audit.clockstatus import ClockStatusProbe, SyncState
from tldsec.audit.entry import (
    Checkpoint,
    Entry,
    checkpoint_message,
    make_entry,
    normalize_details,
    zone_name,
)
from tldsec.audit.events import Actor, EventType, Level
from tldsec.audit.models import CHECKPOINTS, ENTRIES, HEAD
from tldsec.audit.query import entry_from_row
from tldsec.audit.signing import AuditSigner
from tldsec.clock import Clock
from tldsec.db import pgwire
from tldsec.db.pgwire import Prepared
from tldsec.errors import AuditError, TldsecError

_log = logging.getLogger(__name__)

SELF = Actor.component("audit")

# The statements, built once (building and cache-keying one per call costs more CPU
# than the database spends running it).
READ_HEAD = select(HEAD).where(HEAD.c.id == 1)
LOCK_HEAD = READ_HEAD.with_for_update()
INSERT_ENTRIES = insert(ENTRIES)
INSERT_CHECKPOINT = insert(CHECKPOINTS)
UPDATE_HEAD = update(HEAD).where(HEAD.c.id == 1)  # SET from the parameters given

# The same on PostgreSQL, prepared once per connection and sent several to a round trip
# (``AuditLog._append_postgres``, db/pgwire.py). Times as UTC ISO text, read back exactly
# whatever the session's DateStyle and zone.
PG_LOCK_HEAD = Prepared.of(
    "audit_lock_head",
    "SELECT seq, hash, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'),"
    " checkpoint_seq, to_char(checkpoint_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'),"
    " clock_state FROM audit_head WHERE id = 1 FOR UPDATE",
)
PG_INSERT_ENTRY = Prepared.of(
    "audit_insert_entry",
    "INSERT INTO audit_entries (seq, time, actor, event, level, details, prev_hash, hash,"
    " zone) VALUES (%(seq)s, %(time)s, %(actor)s, %(event)s, %(level)s, %(details)s::json,"
    " %(prev_hash)s, %(hash)s, %(zone)s)",
)
PG_INSERT_CHECKPOINT = Prepared.of(
    "audit_insert_checkpoint",
    "INSERT INTO audit_checkpoints (seq, head_hash, time, key_id, signature)"
    " VALUES (%(seq)s, %(head_hash)s, %(time)s, %(key_id)s, %(signature)s)",
)
PG_UPDATE_HEAD = Prepared.of(
    "audit_update_head",
    "UPDATE audit_head SET seq = %(seq)s, hash = %(hash)s, time = %(time)s,"
    " clock_state = %(clock_state)s, checkpoint_seq = %(checkpoint_seq)s,"
    " checkpoint_time = %(checkpoint_time)s WHERE id = 1",
)


@dataclass(frozen=True, slots=True)
class WriterOptions:
    """When checkpoints are signed and what counts as a clock anomaly."""

    checkpoint_every: int = 1000
    checkpoint_interval: timedelta = timedelta(hours=1)
    # Writers on several hosts (NTP-synchronised) may be this far apart without alarm.
    backwards_tolerance: timedelta = timedelta(seconds=1)
    sync_check_interval: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        if self.checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        if self.checkpoint_interval <= timedelta(0):
            raise ValueError("checkpoint_interval must be positive")
        if self.backwards_tolerance < timedelta(0):
            raise ValueError("backwards_tolerance cannot be negative")


@dataclass(frozen=True, slots=True)
class Head:
    """The newest entry's sequence number, hash and time, and the newest checkpoint's."""

    seq: int
    hash: str
    time: datetime | None
    checkpoint_seq: int
    checkpoint_time: datetime | None
    clock_state: SyncState | None


@dataclass(slots=True)
class _Request:
    """One ``record`` or ``record_many`` call waiting for its group's transaction."""

    items: list[_Pending]
    entries: list[Entry] | None = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one append writes: every entry, the callers' among them, the head's values."""

    entries: list[Entry]
    theirs: list[Entry]
    checkpoint: Checkpoint | None
    head: dict[str, Any]


class _PgHead(NamedTuple):
    """The head row as ``PG_LOCK_HEAD`` reads it."""

    seq: int
    hash: str
    time: datetime | None
    checkpoint_seq: int
    checkpoint_time: datetime | None
    clock_state: str | None

    @classmethod
    def of(cls, result: PGresult) -> _PgHead | None:
        if result.ntuples == 0:
            return None
        seq, hash_, time, checkpoint_seq, checkpoint_time, clock_state = (
            pgwire.value(result, 0, column) for column in range(6)
        )
        return cls(
            int(seq or 0),
            hash_ or "",
            _utc_text(time),
            int(checkpoint_seq or 0),
            _utc_text(checkpoint_time),
            clock_state,
        )


@dataclass(frozen=True, slots=True)
class _Pending:
    event: EventType
    actor: Actor
    level: Level
    details: Mapping[str, Any]
    zone: str | None = None


class AuditLog:
    """Appends entries to the hash chain in the audit database and signs checkpoints."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        signer: AuditSigner | None,
        probe: ClockStatusProbe | None = None,
        options: WriterOptions | None = None,
        owns_engine: bool = False,
        anchors: Sequence[CheckpointAnchor] = (),
        zone: str | None = None,
    ) -> None:
        self.engine = engine
        # The home's origin: the zone of an entry whose event concerns a zone and whose
        # writer names none (decisions.md 58).
        self.zone = zone_name(zone) if zone is not None else None
        # Copies of each checkpoint outside the database (audit/anchors.py), written
        # after the checkpoint commits; the newest failure is kept for status/health.
        self.anchors: tuple[CheckpointAnchor, ...] = tuple(anchors)
        self.anchor_error: str | None = None
        self._owns_engine = owns_engine
        self.clock = clock
        self.signer = signer
        self._probe = probe
        self._options = options or WriterOptions()
        self._probe_lock = threading.Lock()
        self._probed_at: datetime | None = None
        self._signing_failed_at: datetime | None = None
        self._sqlite = engine.dialect.name == "sqlite"
        self._group = threading.Condition()
        self._queue: list[_Request] = []
        self._writing = False

    def record(
        self,
        event: EventType | str,
        *,
        actor: Actor | str,
        level: Level | str | None = None,
        zone: str | None = None,
        **details: Any,
    ) -> Entry:
        """Append one entry and return it, with its sequence number and hash.

        ``level`` defaults to the catalogue's level for the event, ``zone`` to the
        log's zone for an event that concerns a zone and to none otherwise. Details
        are JSON values (no floats); datetimes, bytes, enums and paths are converted.
        """
        item = self._pending(event, actor, level, zone, details)
        return self._group_commit(_Request([item]))[0]

    def record_many(
        self, events: Sequence[tuple[EventType | str, Actor | str, Mapping[str, Any]]]
    ) -> list[Entry]:
        """Append several entries, in order, in one transaction (one group commit): all
        of them or none. Each is ``(event, actor, details)`` at the catalogue's level.
        The EPP server writes a DS change's entries so (received, changed, accepted):
        one append per command instead of three (decision 56). A ``zone`` in an
        entry's details is its zone (``record``'s ``zone``)."""
        if not events:
            return []
        # A ``zone`` among the details is the entry's zone, as ``record``'s argument.
        items = [
            self._pending(
                event,
                actor,
                None,
                details.get("zone"),
                {k: v for k, v in details.items() if k != "zone"},
            )
            for event, actor, details in events
        ]
        return self._group_commit(_Request(items))

    def record_if(
        self,
        event: EventType | str,
        guard: Callable[[list[Entry]], None],
        *,
        actor: Actor | str,
        zone: str | None = None,
        **details: Any,
    ) -> Entry:
        """Append one entry unless ``guard`` raises: it sees every earlier entry of the
        same event, read under the writer's lock in the transaction that appends, so
        two writers never both pass it (a ceremony used once, even by concurrent runs).
        """
        item = self._pending(event, actor, None, zone, details)
        try:
            with self._transaction() as conn:
                head = _head(conn.execute(READ_HEAD if self._sqlite else LOCK_HEAD).one_or_none())
                earlier = conn.execute(
                    select(ENTRIES)
                    .where(ENTRIES.c.event == item.event.value)
                    .order_by(ENTRIES.c.seq)
                )
                guard([entry_from_row(row) for row in earlier])
                plan = self._plan(head, [item])
                _write(conn, plan)
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot write the audit log: {exc}") from exc
        self._anchor(plan.checkpoint)
        return plan.theirs[0]

    def _pending(
        self,
        event: EventType | str,
        actor: Actor | str,
        level: Level | str | None,
        zone: str | None,
        details: Mapping[str, Any],
    ) -> _Pending:
        item = _pending(event, actor, level, details)
        try:
            named = zone_name(zone) if zone is not None else None
        except ValueError as exc:
            raise AuditError(f"audit entry refused: {exc}") from exc
        if named is None and item.event.concerns_a_zone:
            named = self.zone
        return _Pending(item.event, item.actor, item.level, item.details, named)

    def _group_commit(self, request: _Request) -> list[Entry]:
        """Append ``request`` with whatever else is queued, or wait for the writer that
        takes it (see the module docstring)."""
        with self._group:
            self._queue.append(request)
            while self._writing and request.entries is None and request.error is None:
                self._group.wait()
            if request.entries is None and request.error is None:
                self._writing = True
                batch, self._queue = self._queue, []
            else:
                batch = []
        if batch:
            try:
                entries = self._append([item for r in batch for item in r.items])
                start = 0
                for r in batch:
                    r.entries = entries[start : start + len(r.items)]
                    start += len(r.items)
            except Exception as exc:  # every call of the group fails, none is written
                for r in batch:
                    r.error = exc
            finally:
                with self._group:
                    self._writing = False
                    self._group.notify_all()
        error = request.error
        if error is not None:
            if batch or not isinstance(error, AuditError):  # the writer's own exception
                raise error
            raise AuditError(str(error)) from error  # a copy for each waiting thread
        assert request.entries is not None
        return request.entries

    def checkpoint(self) -> Checkpoint | None:
        """Sign the head now, unless it is already signed or the log is empty."""
        if self.signer is None:
            raise AuditError("no audit key configured: checkpoints cannot be signed")
        try:
            with self._transaction() as conn:
                head = _head(conn.execute(READ_HEAD if self._sqlite else LOCK_HEAD).one_or_none())
                if head.seq == 0 or head.checkpoint_seq == head.seq:
                    return None
                now = self.clock.now()
                checkpoint = self._sign_checkpoint(head.seq, head.hash, now)
                conn.execute(INSERT_CHECKPOINT, _checkpoint_row(checkpoint))
                conn.execute(UPDATE_HEAD, {"checkpoint_seq": head.seq, "checkpoint_time": now})
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot write an audit checkpoint: {exc}") from exc
        self._anchor(checkpoint)
        return checkpoint

    def head(self) -> Head:
        try:
            with self.engine.connect() as conn:
                row = conn.execute(READ_HEAD).one_or_none()
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot read the audit log head: {exc}") from exc
        return _head(row)

    def close(self) -> None:
        """Close the audit key's session, the witness database, and the engine if this
        log made it."""
        try:
            if self.signer is not None:
                self.signer.close()
        finally:
            for anchor in self.anchors:
                closer = getattr(anchor, "close", None)
                if closer is not None:
                    closer()
            if self._owns_engine:
                self.engine.dispose()

    # -- the transaction ----------------------------------------------------------------

    def _append(self, requested: list[_Pending]) -> list[Entry]:
        if not self._sqlite:
            return self._append_postgres(requested)
        try:
            with self._transaction() as conn:
                head = _head(conn.execute(READ_HEAD).one_or_none())
                plan = self._plan(head, requested)
                _write(conn, plan)
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot write the audit log: {exc}") from exc
        self._anchor(plan.checkpoint)
        return plan.theirs

    def _append_postgres(self, requested: list[_Pending]) -> list[Entry]:
        """``_append`` on PostgreSQL in two round trips (``db/pgwire.py``): BEGIN with the
        head's lock, then every write with the COMMIT, where one statement each took six.
        The same statements, order and lock; a failure rolls it all back (the pool's
        reset on return ends an open or aborted transaction).
        """
        try:
            with self.engine.connect() as conn:
                locked = pgwire.pipeline(conn, [("BEGIN", {}), (PG_LOCK_HEAD, {})])[-1]
                plan = self._plan(_head(_PgHead.of(locked)), requested)
                writes: list[pgwire.Step] = [(PG_INSERT_ENTRY, _pg_entry(e)) for e in plan.entries]
                if plan.checkpoint is not None:
                    writes.append((PG_INSERT_CHECKPOINT, _checkpoint_row(plan.checkpoint)))
                writes.append((PG_UPDATE_HEAD, plan.head))
                pgwire.pipeline(conn, [*writes, ("COMMIT", {})])
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot write the audit log: {exc}") from exc
        self._anchor(plan.checkpoint)
        return plan.theirs

    def _plan(self, head: Head, requested: list[_Pending]) -> _Plan:
        """The rows one append writes, under the head lock: clock anomalies first, the
        callers' entries, a checkpoint when due (or an entry saying why it is missing),
        and the new head."""
        # Read the time after taking the lock: on one host, time order then follows
        # sequence order, and a backwards step is a real anomaly.
        now = self.clock.now()
        clock_state = head_state = head.clock_state
        anomalies: list[_Pending] = []
        if head.time is not None and now < head.time - self._options.backwards_tolerance:
            anomalies.append(_clock_backwards(head.time, now))
        observed = self._probe_state(now)
        if observed is not None and observed is not SyncState.UNKNOWN:
            clock_state = observed
            if observed is not head_state:
                anomalies.extend(_sync_change(head_state, observed))
        entries = _chain(head.seq, head.hash, now, [*anomalies, *requested])
        theirs = entries[len(anomalies) :]
        last = entries[-1]
        checkpoint: Checkpoint | None = None
        checkpoint_seq, checkpoint_time = head.checkpoint_seq, head.checkpoint_time
        if self._checkpoint_due(head, last.seq, now):
            try:
                checkpoint = self._sign_checkpoint(last.seq, last.hash, now)
                checkpoint_seq, checkpoint_time = last.seq, now
                self._signing_failed_at = None
            except TldsecError as exc:
                # The entry matters more than its checkpoint (it may report the HSM's
                # own failure): keep it, say why, sign at a later entry.
                self._signing_failed_at = now
                _log.warning("audit checkpoint at seq %d not signed: %s", last.seq, exc)
                entries += _chain(last.seq, last.hash, now, [_unsigned(exc)])
                last = entries[-1]
        return _Plan(
            entries=entries,
            theirs=theirs,
            checkpoint=checkpoint,
            head={
                "seq": last.seq,
                "hash": last.hash,
                "time": now,
                "clock_state": clock_state.value if clock_state else None,
                "checkpoint_seq": checkpoint_seq,
                "checkpoint_time": checkpoint_time,
            },
        )

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if self._sqlite:
                # Take the write lock first, so two writers never read the same head.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def _checkpoint_due(self, head: Head, seq: int, now: datetime) -> bool:
        if self.signer is None:
            return False
        failed = self._signing_failed_at
        if failed is not None and timedelta(0) <= now - failed < self._options.sync_check_interval:
            return False  # the key failed a moment ago: do not fail (and report) every entry
        if seq - head.checkpoint_seq >= self._options.checkpoint_every:
            return True
        last = head.checkpoint_time
        return last is None or now - last >= self._options.checkpoint_interval

    def _sign_checkpoint(self, seq: int, head_hash: str, now: datetime) -> Checkpoint:
        assert self.signer is not None
        signature = self.signer.sign(checkpoint_message(seq, head_hash, now))
        # A copy outside the database, for whoever collects the logs (DPS 4.4.5).
        _log.info("audit checkpoint seq=%d head=%s key=%s", seq, head_hash, self.signer.key_id)
        return Checkpoint(seq, head_hash, now, self.signer.key_id, signature)

    def _anchor(self, checkpoint: Checkpoint | None) -> None:
        """Copy a committed checkpoint to every anchor. A failure cannot undo the commit:
        it is logged at ERROR and shown by status and /health until a publish succeeds."""
        if checkpoint is None or not self.anchors:
            return
        errors = publish_all(self.anchors, checkpoint)
        for error in errors:
            _log.error("audit anchor: %s", error)
        self.anchor_error = "; ".join(errors) or None

    def _probe_state(self, now: datetime) -> SyncState | None:
        if self._probe is None:
            return None
        with self._probe_lock:
            last = self._probed_at
            interval = self._options.sync_check_interval
            if last is not None and timedelta(0) <= now - last < interval:
                return None
            self._probed_at = now
        return self._probe.state()


def _head(row: Any) -> Head:
    if row is None:
        raise AuditError("the audit database has no head row: run 'tldsec audit init'")
    return Head(
        seq=row.seq,
        hash=row.hash,
        time=row.time,
        checkpoint_seq=row.checkpoint_seq,
        checkpoint_time=row.checkpoint_time,
        clock_state=SyncState(row.clock_state) if row.clock_state else None,
    )


def _utc_text(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if value is not None else None


def _chain(seq: int, prev: str, now: datetime, items: list[_Pending]) -> list[Entry]:
    """``items`` as entries numbered after ``seq``, each chained to the one before."""
    entries: list[Entry] = []
    for item in items:
        seq += 1
        entry = make_entry(
            seq=seq,
            time=now,
            actor=str(item.actor),
            event=item.event.value,
            level=item.level.value,
            details=item.details,
            prev_hash=prev,
            zone=item.zone,
        )
        entries.append(entry)
        prev = entry.hash
    return entries


def _entry_row(e: Entry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "time": e.time,
        "actor": e.actor,
        "event": e.event,
        "level": e.level,
        "details": dict(e.details),
        "prev_hash": e.prev_hash,
        "hash": e.hash,
        "zone": e.zone,
    }


def _pg_entry(e: Entry) -> dict[str, Any]:
    # json.dumps as SQLAlchemy's JSON type serialises it on the other path.
    return {**_entry_row(e), "details": json.dumps(dict(e.details))}


def _write(conn: Connection, plan: _Plan) -> None:
    """Write a plan's entries, its checkpoint if any, and the new head (SQLAlchemy path)."""
    conn.execute(INSERT_ENTRIES, [_entry_row(e) for e in plan.entries])
    if plan.checkpoint is not None:
        conn.execute(INSERT_CHECKPOINT, _checkpoint_row(plan.checkpoint))
    conn.execute(UPDATE_HEAD, plan.head)


def _checkpoint_row(c: Checkpoint) -> dict[str, Any]:
    return {
        "seq": c.seq,
        "head_hash": c.head_hash,
        "time": c.time,
        "key_id": c.key_id,
        "signature": c.signature.hex(),
    }


def _pending(
    event: EventType | str,
    actor: Actor | str,
    level: Level | str | None,
    details: Mapping[str, Any],
) -> _Pending:
    try:
        event_type = event if isinstance(event, EventType) else EventType.parse(event)
        who = actor if isinstance(actor, Actor) else Actor.parse(actor)
        if level is None:
            lvl = event_type.info.level
        else:
            lvl = level if isinstance(level, Level) else Level.parse(level)
        clean = normalize_details(details)
    except ValueError as exc:
        raise AuditError(f"audit entry refused: {exc}") from exc
    return _Pending(event_type, who, lvl, clean)


def _clock_backwards(previous: datetime, now: datetime) -> _Pending:
    behind = previous - now
    return _Pending(
        EventType.CLOCK_BACKWARDS,
        SELF,
        EventType.CLOCK_BACKWARDS.info.level,
        normalize_details(
            {
                "previous_time": previous,
                "current_time": now,
                "behind_microseconds": behind // timedelta(microseconds=1),
            }
        ),
    )


def _sync_change(before: SyncState | None, now: SyncState) -> list[_Pending]:
    if now is SyncState.UNSYNCHRONISED:
        event = EventType.CLOCK_UNSYNCHRONISED
    elif before is SyncState.UNSYNCHRONISED:
        event = EventType.CLOCK_SYNCHRONISED
    else:
        return []  # first observation, and all is well: nothing to report
    return [_Pending(event, SELF, event.info.level, {"source": "adjtimex"})]


def _unsigned(exc: TldsecError) -> _Pending:
    return _Pending(
        EventType.SYSTEM_ANOMALY,
        SELF,
        Level.ERROR,
        {"anomaly": "audit checkpoint not signed", "error": str(exc)},
    )
