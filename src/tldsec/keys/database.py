"""The signer database: opening it and bringing its schema up to date (Alembic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from tldsec.db.base import make_engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "db" / "migrations" / "signer"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the signer schema to ``revision`` (idempotent)."""
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def open_signer_db(url: str, **engine_args: Any) -> Engine:
    """An engine on the signer database at ``url``, its schema at the latest revision."""
    engine = make_engine(url, **engine_args)
    upgrade(engine)
    return engine
