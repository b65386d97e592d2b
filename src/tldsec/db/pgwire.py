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

import select
from collections.abc import Mapping
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


def begin(conn: Connection) -> str:
    """``BEGIN;`` when the connection has no transaction open yet, else nothing: the
    start of a script that opens the session's transaction itself, so that psycopg's
    BEGIN does not take a round trip of its own."""
    idle = _psycopg(conn).pgconn.transaction_status == pq.TransactionStatus.IDLE
    return "BEGIN; " if idle else ""


def defer(session: Session, script: str) -> None:
    """Send ``script`` with the session's commit, not now."""
    session.info.setdefault(_DEFERRED, []).append(script)


def send_deferred(session: Session) -> None:
    """Send what ``defer`` kept (the registry's write sessions call this before commit)."""
    scripts = session.info.pop(_DEFERRED, None)
    if scripts:
        run(session.connection(), "; ".join(scripts))


def commit_with(session: Session, script: str) -> None:
    """Send the deferred writes, ``script`` and COMMIT as one message. The session's own
    commit then has nothing left to do (psycopg sees no transaction open)."""
    scripts = session.info.pop(_DEFERRED, [])
    run(session.connection(), "; ".join([*scripts, script, "COMMIT"]))


def value(result: pq.abc.PGresult, row: int, column: int) -> str | None:
    """One field of a text-format result, decoded (None for NULL)."""
    raw = result.get_value(row, column)
    return None if raw is None else raw.decode()
