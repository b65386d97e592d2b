"""Hot-path statements on PostgreSQL, straight on libpq.

A DS change is the transform registrars send most (DPS 3.3), and each one is also an
audit entry. On PostgreSQL their statements skip SQLAlchemy and psycopg's cursors, whose
Python side costs several times what PostgreSQL spends running such small statements:
they are rendered here with their values as quoted literals (``render``) and sent with
libpq, several to one simple-query message (``run``), on the connection under an
SQLAlchemy one. A DS update is then two round trips: BEGIN with the domain's lock and
its reads, then every write with the transaction log's row and the COMMIT; an audit
append is two too (``audit/log.py``).

The writes wait in the session (``defer``) until the dispatcher sends them with the log
row (``commit_with``); a session committed some other way sends them just before its
COMMIT (``send_deferred``, hooked on the registry's write sessions), so a write is never
lost. A statement run in the session in between does not see them.

psycopg's errors come out as SQLAlchemy's (``DBAPIError``), like those of every other
statement, and a connection the server dropped is invalidated so the pool does not hand
it out again. After a failed message the transaction is aborted; the session's rollback
ends it.
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

_DEFERRED = "tldsec.pg_deferred"  # Session.info key: scripts not yet sent
_OK = frozenset({pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK, pq.ExecStatus.EMPTY_QUERY})


def _psycopg(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under ``conn``."""
    raw = conn.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError(f"the hot path needs a psycopg connection, not {type(raw).__name__}")
    return raw


def _as_sqlalchemy(
    conn: Connection, raw: psycopg.Connection[Any], exc: psycopg.Error
) -> StatementError:
    """``exc`` as SQLAlchemy's error; a connection the server dropped is invalidated."""
    if raw.closed:
        conn.invalidate(exc)
    return DBAPIError.instance(None, None, exc, psycopg.Error)


def render(conn: Connection, template: str, params: Mapping[str, Any]) -> str:
    """``template`` with each ``%(name)s`` replaced by ``params[name]`` as a literal."""
    pgconn = _psycopg(conn).pgconn
    return template % {k: _literal(pgconn, v) for k, v in params.items()}


def _literal(pgconn: pq.abc.PGconn, value: Any) -> str:
    """One value as a PostgreSQL literal of its own type (typed, so that it also fits
    where the context gives none, as in ``INSERT ... SELECT``)."""
    kind = type(value)
    if kind is str:
        return _text(pgconn, value)
    if kind is int:
        return str(value)
    if value is None:
        return "NULL"
    if kind is bool:
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: tldsec stores UTC only")
        return f"'{value.astimezone(UTC).isoformat()}'::timestamptz"
    if isinstance(value, list | tuple):
        if all(type(v) is int for v in value):
            return f"ARRAY[{','.join(map(str, value))}]::int[]"
        if all(type(v) is str for v in value):
            return f"ARRAY[{','.join(_text(pgconn, v) for v in value)}]::text[]"
    raise TypeError(f"no PostgreSQL literal for {kind.__name__} {value!r}")


def _text(pgconn: pq.abc.PGconn, value: str) -> str:
    # Without a quote or a backslash there is nothing to escape, whatever the server's
    # standard_conforming_strings; libpq escapes the rest.
    if "\0" in value:
        raise ValueError(f"PostgreSQL text cannot hold a NUL character: {value!r}")
    if "'" in value or "\\" in value:
        escaping: pq.abc.Escaping = pq.Escaping(pgconn)
        return bytes(escaping.escape_literal(value.encode())).decode()
    return f"'{value}'"


def run(conn: Connection, script: str) -> list[pq.abc.PGresult]:
    """Send ``script`` (statements separated by ``;``) as one message; every result.

    The wait releases the GIL, like psycopg's own: the server's other command threads
    run meanwhile. The first failing statement is raised; PostgreSQL ran none after it.
    """
    raw = _psycopg(conn)
    try:
        return _exchange(raw, script)
    except psycopg.Error as exc:
        raise _as_sqlalchemy(conn, raw, exc) from exc


def _exchange(raw: psycopg.Connection[Any], script: str) -> list[pq.abc.PGresult]:
    pgconn = raw.pgconn
    pgconn.send_query(script.encode())
    fd = pgconn.socket
    while pgconn.flush():
        select.select([fd], [fd], [])
        pgconn.consume_input()
    results: list[pq.abc.PGresult] = []
    error: pq.abc.PGresult | None = None
    while True:
        while pgconn.is_busy():
            select.select([fd], [], [])
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:
            break
        if result.status in _OK:
            results.append(result)
        elif error is None:
            error = result
    if error is not None:
        raise pg_errors.error_from_result(error, encoding=raw.info.encoding)
    if pgconn.status != pq.ConnStatus.OK:
        raise psycopg.OperationalError(pgconn.get_error_message())
    return results


def begin(conn: Connection) -> list[Step]:
    """BEGIN when the connection has no transaction open yet, else nothing: the first
    step of a pipeline that opens the session's transaction itself, so that psycopg's
    BEGIN does not take a round trip of its own."""
    idle = _psycopg(conn).pgconn.transaction_status == pq.TransactionStatus.IDLE
    return [("BEGIN", {})] if idle else []


@dataclass(frozen=True, slots=True)
class Prepared:
    """A statement PostgreSQL parses and plans once per connection, then runs with new
    values: planning the hot path's statements anew each time cost PostgreSQL more CPU
    than running them. Written with ``%(name)s`` placeholders, like ``render``'s."""

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
        if pgconn.pipeline_status != pq.PipelineStatus.OFF:
            # Results still pending: the connection cannot be trusted to psycopg again.
            conn.invalidate(exc)
        raise _as_sqlalchemy(conn, raw, exc) from exc


def _pipeline(
    pgconn: pq.abc.PGconn, steps: Sequence[Step], prepared: set[bytes], encoding: str
) -> list[pq.abc.PGresult]:
    pgconn.enter_pipeline_mode()
    sent: list[bytes | None] = []  # per command: the name it prepares, or None
    for statement, values in steps:
        if isinstance(statement, str):
            pgconn.send_query_params(statement.encode(), None)
            sent.append(None)
            continue
        if statement.name not in prepared and statement.name not in sent:
            pgconn.send_prepare(statement.name, statement.sql)
            sent.append(statement.name)
        pgconn.send_query_prepared(statement.name, [_param(values[k]) for k in statement.params])
        sent.append(None)
    pgconn.pipeline_sync()
    fd = pgconn.socket
    while pgconn.flush():
        select.select([fd], [fd], [])
        pgconn.consume_input()
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


def _next_result(pgconn: pq.abc.PGconn, fd: int) -> pq.abc.PGresult | None:
    while pgconn.is_busy():
        select.select([fd], [], [])
        pgconn.consume_input()
    return pgconn.get_result()


def _param(value: Any) -> bytes | None:
    """One value in PostgreSQL's text format (the statement's casts give the types)."""
    kind = type(value)
    if kind is str:
        if "\0" in value:
            raise ValueError(f"PostgreSQL text cannot hold a NUL character: {value!r}")
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
    if "\0" in value:
        raise ValueError(f"PostgreSQL text cannot hold a NUL character: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


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
    commit then has nothing left to do (psycopg sees no transaction open)."""
    steps = session.info.pop(_DEFERRED, [])
    pipeline(session.connection(), [*steps, step, ("COMMIT", {})])


def value(result: pq.abc.PGresult, row: int, column: int) -> str | None:
    """One field of a text-format result, decoded (None for NULL)."""
    raw = result.get_value(row, column)
    return None if raw is None else raw.decode()
