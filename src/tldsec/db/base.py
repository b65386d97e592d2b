"""The DeclarativeBase shared by every model, and how engines are made."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Every table of tldsec derives from this."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        create_private(make_url(url).database)
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # A 1000 answer is durable: the commit survives power loss, not only a crash
            # of the process (NORMAL in WAL mode may lose the last commits; docs/registry.md).
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)  # the EPP server turns it off (docs/epp.md)
    if url.startswith("postgresql+psycopg"):
        # psycopg's own statement preparation stays off: after a rollback it runs
        # DEALLOCATE ALL, which would also drop the hot path's statements (db/pgwire.py).
        connect_args = dict(kwargs.get("connect_args", {}))
        connect_args.setdefault("prepare_threshold", None)
        kwargs["connect_args"] = connect_args
    return create_engine(url, **kwargs)


DATABASE_FILE_MODE = 0o600  # DPS 4.4.4, 5.2: the registry, signer and audit data are private


def create_private(path: str | None) -> None:
    """Create an SQLite database file 0600 before SQLite does (it would follow the umask,
    usually 0644); its -wal and -shm files take the same mode. An existing file and a
    missing directory are left alone (SQLite then reports the latter)."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DATABASE_FILE_MODE)
    except (FileExistsError, FileNotFoundError, NotADirectoryError):
        return
    os.close(fd)
