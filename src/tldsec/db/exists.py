"""Whether the database a URL names exists, and creating it on purpose.

Opening a SQLite URL creates the file, and a fresh file migrates into an empty registry:
a misspelt ``[database]`` URL would publish a TLD without delegations (issue 13). So
every command checks that the home's databases exist before it opens one, and only
``tldsec init`` and ``tldsec db upgrade --create`` make a new one.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from tldsec.db.base import make_engine
from tldsec.errors import ConfigError, DatabaseUnavailable

# PostgreSQL SQLSTATE invalid_catalog_name: 'database "x" does not exist'.
INVALID_CATALOG_NAME = "3D000"


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"{url!r} is not a database URL: {exc}") from exc


def _sqlite_file(parsed: URL) -> Path | None:
    """The file a SQLite URL names; None for an in-memory database."""
    name = parsed.database or ""
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def database_exists(url: str) -> bool:
    """Whether the database exists (a SQLite file; a PostgreSQL database the server
    knows). A server that cannot be reached is an error, not an answer."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_file(parsed)
        return path is None or path.exists()
    if backend != "postgresql":
        return True  # no other backend is supported; its own driver will say so
    engine = make_engine(url, poolclass=NullPool, pool_pre_ping=False)
    try:
        with engine.connect():
            return True
    except OperationalError as exc:
        # libpq reports a failed connection without a SQLSTATE; its message is the
        # server's FATAL one, which names the missing database.
        missing = f'database "{parsed.database}" does not exist'
        if getattr(exc.orig, "sqlstate", None) == INVALID_CATALOG_NAME or missing in str(exc):
            return False
        reason = " ".join(str(exc.orig).split())  # libpq's message spans lines
        raise DatabaseUnavailable(
            f"cannot reach the database {parsed!r}: {reason}", reason=reason
        ) from exc
    finally:
        engine.dispose()


def create_database(url: str) -> None:
    """Create the database a URL names (nothing in it yet): the SQLite file, or the
    PostgreSQL database, created by the URL's role through the ``postgres`` database."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_file(parsed)
        if path is None:
            return
        if not path.parent.is_dir():
            raise ConfigError(f"cannot create {path}: the directory {path.parent} does not exist")
        engine = make_engine(url, poolclass=NullPool)
        try:
            with engine.connect():
                pass  # connecting creates the file
        finally:
            engine.dispose()
        return
    if backend != "postgresql":
        raise ConfigError(f"cannot create a {backend} database: use SQLite or PostgreSQL")
    name = parsed.database
    if not name:
        raise ConfigError(f"{parsed!r} names no database")
    admin = make_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False),
        poolclass=NullPool,
        pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",
    )
    quoted = '"' + name.replace('"', '""') + '"'
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {quoted}"))
    except DBAPIError as exc:
        raise ConfigError(f"cannot create the database {name!r}: {exc.orig}") from exc
    finally:
        admin.dispose()
