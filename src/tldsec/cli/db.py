"""``tldsec db upgrade``: bring every database of the home to its newest schema.

Each Alembic environment under ``tldsec/db/migrations/NAME`` belongs to the database
``Settings.NAME_db_url`` (registry, audit, ...); environments take the connection in
``config.attributes["connection"]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tldsec.cli.common import ALL_DATABASES, add_home_argument, redacted, settings_from_args
from tldsec.db import migrate
from tldsec.db.base import make_engine
from tldsec.db.exists import create_database, database_exists
from tldsec.registry.database import RegistryDatabase

MIGRATIONS = Path(__file__).resolve().parent.parent / "db" / "migrations"


def register(sub: Any) -> None:
    group = sub.add_parser("db", help="the home's databases")
    actions = group.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser("upgrade", help="migrate every database to its newest schema")
    add_home_argument(upgrade)
    upgrade.add_argument(
        "--create",
        action="store_true",
        help="create a database the home names that does not exist yet (without it, a "
        "missing database is an error: a misspelt URL must not become an empty registry)",
    )
    upgrade.set_defaults(handler=_upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    settings = settings_from_args(args, databases=() if args.create else ALL_DATABASES)
    for env in sorted(p.parent for p in MIGRATIONS.glob("*/env.py")):
        url = getattr(settings, f"{env.name}_db_url", "")
        if not url:
            print(f"{env.name}: no database configured, skipped")
            continue
        if args.create and not database_exists(url):
            create_database(url)
            print(f"{env.name}: {redacted(url)} created")
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
        print(f"{env.name}: {redacted(url)} is up to date")
    return 0
