"""Alembic environment of the signer database (``[database] signer_url``).

Run by ``tldsec.keys.database.upgrade``, which passes an open connection in
``config.attributes["connection"]``. The version table has its own name, so the signer
tables could share a PostgreSQL database with others without their histories mixing.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

VERSION_TABLE = "alembic_version_signer"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url for the signer migrations")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("the signer migrations run online only")
run_migrations_online()
