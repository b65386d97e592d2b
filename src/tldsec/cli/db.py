"""``tldsec db upgrade``: bring every database of the home to its newest schema.

Each Alembic environment under ``tldsec/db/migrations/NAME`` belongs to the database
``Settings.NAME_db_url`` (registry, audit, ...); environments take the connection in
``config.attributes["connection"]``. On PostgreSQL with ``[database] owner_role`` the
migrations run as that role and the URLs' application role is then granted its tables
(``db/roles.py``): the application role cannot create tables in schema ``public``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from tldsec.audit.schema import grant_app_role
from tldsec.cli.common import ALL_DATABASES, add_home_argument, redacted, settings_from_args
from tldsec.db import migrate
from tldsec.db.base import make_engine
from tldsec.db.exists import create_database, database_exists
from tldsec.db.roles import as_role, grant_read_write, is_postgresql, url_role
from tldsec.errors import ConfigError
from tldsec.registry.database import RegistryDatabase
from tldsec.settings import Settings
from tldsec.zonehome import move_into_zone_dir, move_store

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
    add_owner_role_argument(upgrade)
    upgrade.set_defaults(handler=_upgrade)


def add_owner_role_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--owner-role",
        metavar="ROLE",
        help="PostgreSQL: migrate as this role (the databases' owner) instead of "
        "[database] owner_role; the URLs' role is then granted its tables",
    )


def _upgrade(args: argparse.Namespace) -> int:
    settings = settings_from_args(args, databases=() if args.create else ALL_DATABASES)
    upgrade_databases(settings, owner_role=args.owner_role, create=args.create, say=print)
    move_zone_files(settings, say=print)
    return 0


def move_zone_files(settings: Settings, *, say: Callable[[str], None]) -> list[str]:
    """A home of one zone made before decision 57 keeps its cycle files and its store
    directly in ``zones/``: move them into ``zones/NAME/`` by rename (same inodes and
    mtimes, so the next cycle neither re-verifies in full nor re-signs), after the
    schema upgrade; refused while a cycle holds the store's lock. A store that
    ``[distribute] store_dir`` names without ``{zone}`` stays where it is."""
    from tldsec.cycle.open import old_default_store, store_moves
    from tldsec.distribute.config import home_origins, load_distribute_settings

    if len(home_origins(settings)) != 1:
        return []  # a home of several zones was made with the new layout
    origin = settings.origin
    store = load_distribute_settings(settings).store_for(origin)
    moves = store_moves(settings, store)
    moved = move_into_zone_dir(settings.zones_dir, origin, store=None if moves else store)
    if moved:
        say(f"zones: moved {', '.join(moved)} into {settings.zone_dir} (decision 57)")
    old = old_default_store(settings)
    if old is not None and old.parent != settings.zones_dir and move_store(old, store):
        say(f"zones: moved the store {old} to {store} (decision 57)")
        moved.append(str(old))
    return moved


def upgrade_databases(
    settings: Settings,
    *,
    owner_role: str | None = None,
    create: bool = False,
    say: Callable[[str], None],
) -> list[str]:
    """Migrate every database of the home (as the owner role where one is set) and grant
    the application role its tables; returns the names of the databases that changed."""
    role = owner_role or settings.config.database.owner_role
    changed: list[str] = []
    for env in sorted(p.parent for p in MIGRATIONS.glob("*/env.py")):
        name = env.name
        url = getattr(settings, f"{name}_db_url", "")
        if not url:
            say(f"{name}: no database configured, skipped")
            continue
        postgres = is_postgresql(url)
        migrate_url = as_role(url, role) if role and postgres else url
        if create and not database_exists(url):
            create_database(migrate_url)
            say(f"{name}: {redacted(url)} created")
        before, after = _migrate(settings, name, url, migrate_url, role if postgres else None)
        if before == after:
            say(f"{name}: {redacted(url)} already at the newest schema ({after})")
        else:
            changed.append(name)
            say(f"{name}: {redacted(url)} migrated {before or 'empty'} -> {after}")
        app = url_role(url)
        if role and postgres and app and app != role:
            _grant(name, migrate_url, app)
            what = "append and read only" if name == "audit" else "read and write its tables"
            say(f"{name}: role {app} may {what}, not change the schema")
    return changed


def _migrate(
    settings: Settings, name: str, url: str, migrate_url: str, role: str | None
) -> tuple[str | None, str | None]:
    """Run database ``name``'s migrations; its revision before and after."""
    engine = make_engine(migrate_url)
    try:
        before = migrate.current_revision(engine, name)
        # A database written before decision 57 is the home's one zone's.
        origin = next(iter(settings.zones)) if len(settings.zones) == 1 else None
        if name == "registry":  # its SQLite engine begins explicitly
            RegistryDatabase(engine).upgrade(origin=origin)
        else:
            migrate.upgrade(engine, name, origin=origin)
        return before, migrate.current_revision(engine, name)
    except SQLAlchemyError as exc:
        raise _migration_failure(settings, name, url, role, exc) from exc
    finally:
        engine.dispose()


def _migration_failure(
    settings: Settings, name: str, url: str, role: str | None, exc: SQLAlchemyError
) -> ConfigError:
    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
    key = f"[database] {name}_url in {settings.source}"
    if role is not None:
        return ConfigError(
            f"cannot migrate the {name} database {redacted(url)} as its owner role {role} "
            f"([database] owner_role in {settings.source}): {reason}; check that {role} "
            "owns the database and can log in (PGPASSWORD, ~/.pgpass or peer "
            "authentication), then run the command again"
        )
    hint = ""
    if "permission denied" in reason:
        hint = (
            f"; the role {url_role(url) or '(default)'} may not change the schema: set "
            f"[database] owner_role in {settings.source} (or --owner-role ROLE) to the role "
            "that owns the database, so that migrations run as it"
        )
    where = f"the {name} database {redacted(url)} ({key})"
    return ConfigError(f"cannot migrate {where}: {reason}{hint}")


def _grant(name: str, owner_url: str, app: str) -> None:
    engine = make_engine(owner_url)
    try:
        if name == "audit":
            grant_app_role(engine, app)  # append and read only (DPS 4.4.4)
        else:
            grant_read_write(engine, name, app)
    finally:
        engine.dispose()
