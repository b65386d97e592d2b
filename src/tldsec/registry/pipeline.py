"""PostgreSQL statements sent together (psycopg's pipeline mode), for the EPP hot path.

Each round trip to the database costs both sides CPU and a wake-up; pipelining sends
several statements and waits once. The server still runs them one after the other, each
with its own snapshot in READ COMMITTED, so a statement queued after ``SELECT ... FOR
UPDATE`` sees what the lock's previous holder committed. psycopg's errors are raised
as SQLAlchemy's (``DBAPIError``), like those of every other statement, and a connection
the server dropped is invalidated so the pool does not hand it out again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


@contextmanager
def pipeline(conn: Connection) -> Iterator[psycopg.Connection[Any]]:
    """The psycopg connection under ``conn``, in pipeline mode until the block ends;
    results are fetched when a cursor's ``fetch*`` is called, the rest at the end."""
    raw = conn.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError(f"pipelining needs a psycopg connection, not {type(raw).__name__}")
    try:
        with raw.pipeline():
            yield raw
    except psycopg.Error as exc:
        if raw.closed:
            conn.invalidate(exc)
        raise DBAPIError.instance(None, None, exc, psycopg.Error) from exc


def execute_and_commit(conn: Connection, statement: str, params: Mapping[str, Any]) -> None:
    """Run ``statement`` and COMMIT in one round trip. The caller's SQLAlchemy
    transaction then commits nothing (psycopg sees no transaction open)."""
    with pipeline(conn) as raw, raw.cursor() as cur:
        cur.execute(statement, params)
        cur.execute("COMMIT")
