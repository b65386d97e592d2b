"""Alembic plumbing shared by the three databases (signer, registry, audit).

Each database has its own migration environment under ``db/migrations/<name>/`` and its
own version table (``alembic_version_<name>``), so two of them may share one PostgreSQL
database without their histories mixing. ``upgrade`` runs an environment on an engine;
``run_environment`` is what each ``env.py`` calls.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def environment(name: str) -> Path:
    """The migration environment of database ``name`` (signer, registry, audit)."""
    return MIGRATIONS / name


def version_table(name: str) -> str:
    return f"alembic_version_{name}"


def alembic_config(
    name: str, connection: Connection | None = None, *, origin: str | None = None
) -> Config:
    """The Alembic config of database ``name``; ``origin``: the zone a database written
    before decision 57 belongs to, which its zone migrations fill in."""
    config = Config()
    config.set_main_option("script_location", str(environment(name)))
    if connection is not None:
        config.attributes["connection"] = connection
    if origin is not None:
        config.attributes["origin"] = origin
    return config


def upgrade_connection(
    connection: Connection, name: str, revision: str = "head", *, origin: str | None = None
) -> None:
    """Migrate database ``name`` to ``revision`` inside the caller's transaction."""
    command.upgrade(alembic_config(name, connection, origin=origin), revision)


def upgrade(
    engine: Engine, name: str, revision: str = "head", *, origin: str | None = None
) -> None:
    """Migrate database ``name`` to ``revision`` (idempotent), in one transaction;
    ``origin`` as for ``alembic_config``."""
    with engine.begin() as conn:
        upgrade_connection(conn, name, revision, origin=origin)


def head_revision(name: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(name)).get_current_head()


def current_revision(engine: Engine, name: str) -> str | None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": version_table(name)})
        return ctx.get_current_revision()


def run_environment(name: str, *, batch_on_sqlite: bool = True) -> None:
    """The body of ``db/migrations/<name>/env.py``: online migrations only, on the
    connection the caller passes in ``config.attributes["connection"]`` or on
    ``sqlalchemy.url``."""
    if context.is_offline_mode():
        raise RuntimeError(f"the {name} migrations run online only")

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=None,
            version_table=version_table(name),
            render_as_batch=batch_on_sqlite and connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()

    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(f"no connection and no sqlalchemy.url for the {name} migrations")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            run(conn)
    finally:
        engine.dispose()
