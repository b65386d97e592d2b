"""The signer database: opening it and bringing its schema up to date (Alembic)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from tldsec.db import migrate
from tldsec.db.base import make_engine

MIGRATIONS = migrate.environment("signer")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the signer schema to ``revision`` (idempotent)."""
    migrate.upgrade(engine, "signer", revision)


def open_signer_db(url: str, **engine_args: Any) -> Engine:
    """An engine on the signer database at ``url``, its schema at the latest revision."""
    engine = make_engine(url, **engine_args)
    upgrade(engine)
    return engine
