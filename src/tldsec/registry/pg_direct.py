"""The EPP hot path's statements on PostgreSQL, straight on psycopg.

SQLAlchemy's Core costs more CPU per statement than PostgreSQL spends running these
small ones, so the DS update and its transaction-log row go to the psycopg connection
under the session's (the same connection, in the same transaction). ``execute_and_commit``
also saves a round trip: the statement and the COMMIT go in one simple-protocol message
(parameters bound by psycopg's ``ClientCursor``, which quotes them as literals), one send
and one answer. psycopg's errors are raised as SQLAlchemy's (``DBAPIError``), like those
of every other statement, and a connection the server dropped is invalidated so the pool
does not hand it out again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


@contextmanager
def driver(conn: Connection) -> Iterator[psycopg.Connection[Any]]:
    """The psycopg connection under ``conn``; its errors come out as SQLAlchemy's."""
    raw = conn.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError(f"the hot path needs a psycopg connection, not {type(raw).__name__}")
    try:
        yield raw
    except psycopg.Error as exc:
        if raw.closed:
            conn.invalidate(exc)
        raise DBAPIError.instance(None, None, exc, psycopg.Error) from exc


def execute_and_commit(conn: Connection, statement: str, params: Mapping[str, Any]) -> None:
    """Run ``statement`` and COMMIT in one round trip. The caller's SQLAlchemy
    transaction then commits nothing (psycopg sees no transaction open). A failing
    statement leaves the transaction aborted, uncommitted, for the caller's rollback."""
    with driver(conn) as raw, psycopg.ClientCursor(raw) as cur:
        cur.execute(statement + "; COMMIT", params)
