"""The registry database: one engine, write and read sessions, and its migrations.

Built by an entry point from ``Settings.registry_db_url`` and passed down. On SQLite a
write transaction starts with ``BEGIN IMMEDIATE`` so two writers queue on the database
lock instead of failing when a read transaction tries to upgrade; on PostgreSQL,
writers lock the rows they change (``SELECT ... FOR UPDATE``) and unique constraints
decide races such as two registrars creating the same name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from tldsec.db import migrate
from tldsec.db.base import make_engine
from tldsec.db.pgwire import send_deferred

MIGRATIONS = migrate.environment("registry")
_IMMEDIATE = "tldsec_sqlite_immediate"


class RegistryDatabase:
    """Sessions on the registry database; ``write()`` and ``read()`` are units of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        writer: Engine = engine
        if engine.dialect.name == "sqlite":
            _sqlite_explicit_begin(engine)
            writer = engine.execution_options(**{_IMMEDIATE: True})
        self._write = sessionmaker(writer, expire_on_commit=False)
        if engine.dialect.name == "postgresql":
            # Writes a hot path deferred (db/pgwire.py) go before any COMMIT.
            event.listen(self._write, "before_commit", send_deferred)
        self._read = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, **engine_args: Any) -> RegistryDatabase:
        return cls(make_engine(url, **engine_args))

    def durability_warning(self) -> str | None:
        """Why a 1000 (a committed change) might not survive a crash, or None.

        SQLite runs ``synchronous=FULL`` (``db/base.py``). PostgreSQL follows its
        ``synchronous_commit``: ``off`` acknowledges commits before they are on disk
        (docs/registry.md); ``on``, ``remote_write``, ``remote_apply`` and ``local`` sync
        the local WAL first."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                level = conn.execute(text("PRAGMA synchronous")).scalar()
                if level != 2:  # FULL
                    return f"SQLite synchronous={level}, not FULL (2): a commit may be lost"
                return None
            value = conn.execute(text("SHOW synchronous_commit")).scalar()
        if value == "off":
            return (
                "PostgreSQL synchronous_commit is off for the registry database: a change "
                "answered 1000 may be lost in a crash; set it to on (ALTER DATABASE ... SET "
                "synchronous_commit = on, or in postgresql.conf)"
            )
        return None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        with self._write() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; nothing it does is committed (closing rolls back)."""
        with self._read() as session:
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read-only session that sees one consistent state of the whole database
        (REPEATABLE READ on PostgreSQL; a deferred WAL read transaction on SQLite),
        without blocking writers: what the zone builder reads."""
        with self._read() as session:
            if not self.is_sqlite:
                session.connection(
                    execution_options={
                        "isolation_level": "REPEATABLE READ",
                        "postgresql_readonly": True,
                    }
                )
            yield session

    def upgrade(self, revision: str = "head", *, origin: str | None = None) -> None:
        """Bring the schema to ``revision`` with the Alembic migrations; ``origin``: the
        home's zone, which a registry written before decision 57 is migrated into (and a
        new one starts with as zone 1)."""
        with self.engine.begin() as conn:
            migrate.upgrade_connection(conn, "registry", revision, origin=origin)

    def is_current(self) -> bool:
        """Whether the schema is at the newest migration (``tldsec db upgrade`` done)."""
        script = ScriptDirectory.from_config(_config())
        with self.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": "alembic_version_registry"}
            )
            return set(context.get_current_heads()) == set(script.get_heads())

    def dispose(self) -> None:
        self.engine.dispose()


def _config() -> Config:
    return migrate.alembic_config("registry")


def _sqlite_explicit_begin(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, emit BEGIN (the documented pysqlite recipe)."""

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
