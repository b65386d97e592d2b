"""``tldsec db upgrade``: bring every database of the home to its newest schema.

Each Alembic environment under ``tldsec/db/migrations/NAME`` belongs to the database
``Settings.NAME_db_url`` (registry, audit, ...); environments take the connection in
``config.attributes["connection"]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tldsec.cli.common import add_home_argument, settings_from_args
from tldsec.db import migrate
from tldsec.db.base import make_engine
from tldsec.registry.database import RegistryDatabase

MIGRATIONS = Path(__file__).resolve().parent.parent / "db" / "migrations"


def register(sub: Any) -> None:
    group = sub.add_parser("db", help="the home's databases")
    actions = group.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser("upgrade", help="migrate every database to its newest schema")
    add_home_argument(upgrade)
    upgrade.set_defaults(handler=_upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    for env in sorted(p.parent for p in MIGRATIONS.glob("*/env.py")):
        url = getattr(settings, f"{env.name}_db_url", "")
        if not url:
            print(f"{env.name}: no database configured, skipped")
            continue
        if env.name == "registry":
            db = RegistryDatabase.from_url(url)
            try:
                db.upgrade()
            finally:
                db.dispose()
        else:
            engine = make_engine(url)
            try:
                migrate.upgrade(engine, env.name)
            finally:
                engine.dispose()
        print(f"{env.name}: {_redacted(url)} is up to date")
    return 0


def _redacted(url: str) -> str:
    """The URL without a password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest and ":" in rest.split("@", 1)[0]:
        user = rest.split("@", 1)[0].split(":", 1)[0]
        rest = f"{user}:***@{rest.split('@', 1)[1]}"
    return f"{scheme}{sep}{rest}"
