"""Hot-path statements on PostgreSQL, straight on libpq.

A DS change is the transform registrars send most (DPS 3.3), and each one is also an
audit entry. On PostgreSQL their statements skip SQLAlchemy and psycopg's cursors, whose
Python side costs several times what PostgreSQL spends running such small statements.
They go to libpq on the connection under an SQLAlchemy one: ``Prepared`` statements,
parsed and planned once per connection (planning them anew each time cost PostgreSQL
more than running them), run with their values in libpq's pipeline mode, several to one
round trip (``pipeline``). The registry's DS update is two round trips: BEGIN with the
domain's lock and its reads, then every write with the transaction log's row and the
COMMIT (``registry/ds_update.py``); the audit append is two as well (``audit/log.py``).

The writes wait in the session (``defer``) until the dispatcher sends them with the log
row (``commit_with``); a session committed some other way sends them just before its
COMMIT (``send_deferred``, hooked on the registry's write sessions), so a write is never
lost. A statement run in the session in between does not see them.

psycopg's errors come out as SQLAlchemy's (``DBAPIError``), like those of every other
statement, and a connection the server dropped is invalidated, with every other one the
pool holds (as SQLAlchemy does on a disconnect: after a failover they all point at the
old primary), so the next checkout connects anew (to the new primary, through a libpq
multi-host URL; decision 50). After a failed step the transaction is aborted; the
session's rollback ends it. A connection lost after COMMIT was sent leaves the outcome
unknown: ``commit_with`` raises ``CommitOutcomeUnknown`` and the caller settles it.
Every wait for PostgreSQL releases the GIL, so the server's other command threads run
meanwhile.
"""

from __future__ import annotations

import re
import select
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session

from tldsec.errors import CommitOutcomeUnknown

_DEFERRED = "tldsec.pg_deferred"  # Session.info key: steps not yet sent
_OK = frozenset({pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK, pq.ExecStatus.EMPTY_QUERY})


@dataclass(frozen=True, slots=True)
class Prepared:
    """A statement PostgreSQL parses and plans once per connection, then runs with new
    values; written with ``%(name)s`` placeholders, and a cast wherever the statement
    alone does not give a value's type (a prepared statement's types come from it)."""

    name: bytes
    sql: bytes
    params: tuple[str, ...]  # the placeholders' names, in $1, $2 ... order

    @classmethod
    def of(cls, name: str, template: str) -> Prepared:
        order: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] not in order:
                order.append(match[1])
            return f"${order.index(match[1]) + 1}"

        sql = _PLACEHOLDER.sub(number, template)
        return cls(f"tldsec_{name}".encode(), sql.encode(), tuple(order))


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_PREPARED = "tldsec.prepared"  # pool record info key: the names prepared on a connection
Step = tuple[Prepared | str, Mapping[str, Any]]  # a statement and its values


def _psycopg(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under ``conn``."""
    raw = conn.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError(f"the hot path needs a psycopg connection, not {type(raw).__name__}")
    return raw


def _as_sqlalchemy(
    conn: Connection, raw: psycopg.Connection[Any], exc: psycopg.Error
) -> StatementError:
    """``exc`` as SQLAlchemy's error; a connection the server dropped is invalidated, and
    the pool's other connections with it."""
    if raw.closed:
        _invalidate_pool(conn, exc)
    return DBAPIError.instance(None, None, exc, psycopg.Error)


def _invalidate_pool(conn: Connection, exc: BaseException) -> None:
    """Invalidate ``conn`` and mark every connection of its pool opened before now as
    stale, to be replaced at its next checkout: SQLAlchemy's own handling of a
    disconnect (``Connection._handle_dbapi_exception``), which errors raised here do not
    pass through."""
    if conn.invalidated:
        return
    conn.engine.pool._invalidate(conn.connection, exc)
    conn.invalidate(exc)


def begin(conn: Connection) -> list[Step]:
    """BEGIN when the connection has no transaction open yet, else nothing: the first
    step of a pipeline that opens the session's transaction itself, so that psycopg's
    BEGIN does not take a round trip of its own."""
    idle = _psycopg(conn).pgconn.transaction_status == pq.TransactionStatus.IDLE
    return [("BEGIN", {})] if idle else []


def pipeline(conn: Connection, steps: Sequence[Step]) -> list[pq.abc.PGresult]:
    """Run ``steps`` in one round trip (libpq's pipeline mode, one Sync); a result per step.

    A ``Prepared`` statement is parsed on this connection the first time only; a plain
    string is a statement without values (BEGIN, COMMIT). The first failing step is
    raised; PostgreSQL ran none after it.
    """
    raw = _psycopg(conn)
    prepared: set[bytes] = conn.connection.info.setdefault(_PREPARED, set())
    try:
        return _pipeline(raw.pgconn, steps, prepared, raw.info.encoding)
    except psycopg.Error as exc:
        if exc.sqlstate == "26000":  # someone ran DEALLOCATE or DISCARD: prepare again
            prepared.clear()
        pgconn = raw.pgconn
        if pgconn.pipeline_status != pq.PipelineStatus.OFF and not raw.closed:
            # Results still pending: the connection cannot be trusted to psycopg again.
            conn.invalidate(exc)
        raise _as_sqlalchemy(conn, raw, exc) from exc


def _pipeline(
    pgconn: pq.abc.PGconn, steps: Sequence[Step], prepared: set[bytes], encoding: str
) -> list[pq.abc.PGresult]:
    # Every value first: one PostgreSQL cannot take stops the call before anything is sent.
    encoded: list[tuple[Prepared | str, list[bytes | None]]] = [
        (statement, _params(statement.params, values))
        if type(statement) is Prepared
        else (statement, [])
        for statement, values in steps
    ]
    pgconn.enter_pipeline_mode()
    sent: list[bytes | None] = []  # per command: the name it prepares, or None
    for statement, params in encoded:
        if isinstance(statement, str):
            pgconn.send_query_params(statement.encode(), None)
            sent.append(None)
            continue
        if statement.name not in prepared and statement.name not in sent:
            pgconn.send_prepare(statement.name, statement.sql)
            sent.append(statement.name)
        pgconn.send_query_prepared(statement.name, params)
        sent.append(None)
    pgconn.pipeline_sync()
    fd = _flush(pgconn)
    results: list[pq.abc.PGresult] = []
    error: pq.abc.PGresult | None = None
    for preparing in sent:
        result = _next_result(pgconn, fd)
        if result is None:
            raise psycopg.OperationalError(pgconn.get_error_message() or "no result")
        if result.status == pq.ExecStatus.FATAL_ERROR and error is None:
            error = result
        elif result.status in _OK:
            if preparing is not None:
                prepared.add(preparing)
            else:
                results.append(result)
        _next_result(pgconn, fd)  # the None that ends each command's results
    sync = _next_result(pgconn, fd)
    if sync is None or sync.status != pq.ExecStatus.PIPELINE_SYNC:
        raise psycopg.OperationalError(pgconn.get_error_message() or "no pipeline sync")
    pgconn.exit_pipeline_mode()
    if error is not None:
        raise pg_errors.error_from_result(error, encoding=encoding)
    return results


def _flush(pgconn: pq.abc.PGconn) -> int:
    """Send what libpq has queued (the socket is non-blocking); the socket."""
    fd = pgconn.socket
    while pgconn.flush():
        select.select([fd], [fd], [])
        pgconn.consume_input()
    return fd


def _next_result(pgconn: pq.abc.PGconn, fd: int) -> pq.abc.PGresult | None:
    """The next result, waiting for it without the GIL."""
    while pgconn.is_busy():
        select.select([fd], [], [])
        pgconn.consume_input()
    return pgconn.get_result()


def _params(names: tuple[str, ...], values: Mapping[str, Any]) -> list[bytes | None]:
    """A statement's values in its placeholders' order; text and integers, most of them,
    inline (a call less per value: a DS change sends about 75), the rest by ``_param``."""
    out: list[bytes | None] = []
    for name in names:
        value = values[name]
        kind = type(value)
        if kind is str and "\0" not in value:
            out.append(value.encode())
        elif kind is int:
            out.append(b"%d" % value)
        else:
            out.append(_param(value))
    return out


def _param(value: Any) -> bytes | None:
    """One value in PostgreSQL's text format (the statement's casts give the types)."""
    kind = type(value)
    if kind is str:
        _refuse_nul(value)
        return bytes(value, "utf-8")
    if kind is int:
        return b"%d" % value
    if value is None:
        return None
    if kind is bool:
        return b"t" if value else b"f"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: tldsec stores UTC only")
        return value.astimezone(UTC).isoformat().encode()
    if isinstance(value, list | tuple):
        if all(type(v) is int for v in value):
            return ("{" + ",".join(map(str, value)) + "}").encode()
        if all(type(v) is str for v in value):
            return ("{" + ",".join(_array_element(v) for v in value) + "}").encode()
    raise TypeError(f"no PostgreSQL value for {kind.__name__} {value!r}")


def _array_element(value: str) -> str:
    _refuse_nul(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _refuse_nul(value: str) -> None:
    if "\0" in value:
        raise ValueError(f"PostgreSQL text cannot hold a NUL character: {value!r}")


def defer(session: Session, step: Step) -> None:
    """Send ``step`` with the session's commit, not now."""
    session.info.setdefault(_DEFERRED, []).append(step)


def send_deferred(session: Session) -> None:
    """Send what ``defer`` kept (the registry's write sessions call this before commit)."""
    steps = session.info.pop(_DEFERRED, None)
    if steps:
        pipeline(session.connection(), steps)


def commit_with(session: Session, step: Step) -> None:
    """Send the deferred writes, ``step`` and COMMIT in one round trip. The session's own
    commit then has nothing left to do (psycopg sees no transaction open).

    A failure the server answered (a constraint, a serialization failure) leaves the
    connection up and the transaction rolled back. A connection lost instead (the server
    killed, the network cut) may have taken the COMMIT with it or not: that raises
    ``CommitOutcomeUnknown``, never a plain database error, so that the caller does not
    tell a client "nothing changed" when it cannot know; ``step`` should carry a unique
    key by which a new connection can tell (the EPP log row's svTRID)."""
    steps = session.info.pop(_DEFERRED, [])
    conn = session.connection()
    raw = _psycopg(conn)
    try:
        pipeline(conn, [*steps, step, ("COMMIT", {})])
    except StatementError as exc:
        if raw.closed or conn.invalidated:
            raise CommitOutcomeUnknown(
                f"the database connection was lost while committing: {exc.orig}"
            ) from exc
        raise


def value(result: pq.abc.PGresult, row: int, column: int) -> str | None:
    """One field of a text-format result, decoded (None for NULL)."""
    raw = result.get_value(row, column)
    return None if raw is None else raw.decode()
