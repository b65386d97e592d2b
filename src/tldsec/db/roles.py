"""PostgreSQL roles: migrations run as the role that owns a database, the service as
an application role that may read and write the tables but not change the schema.

The application role lacks CREATE on schema ``public`` (PostgreSQL 15 grants it to the
database owner only), so ``tldsec db upgrade`` connects as ``[database] owner_role`` to
the same server and database, then grants the application role (the user of the
``[database]`` URL) what the service needs. The owner's password is never in
``tldsec.toml``: libpq finds it in ``PGPASSWORD``, ``~/.pgpass`` or peer authentication.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from tldsec.errors import ConfigError

_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$-]{0,62}")


def is_postgresql(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def url_role(url: str) -> str | None:
    """The role a URL connects as (None: libpq's default, the login name)."""
    return make_url(url).username


def as_role(url: str, role: str) -> str:
    """The same server and database, connecting as ``role``, without the URL's password
    (it belongs to the application role; libpq finds the owner's)."""
    if not _ROLE.fullmatch(role):
        raise ConfigError(f"[database] owner_role {role!r} is not a plain role name")
    parsed = make_url(url).set(username=role, password=None)
    return parsed.render_as_string(hide_password=False)


def quoted(role: str) -> str:
    if not _ROLE.fullmatch(role):
        raise ConfigError(f"{role!r} is not a plain role name")
    return f'"{role}"'


def grant_read_write(engine: Engine, name: str, role: str) -> None:
    """Let ``role`` read and write every table of database ``name`` (and use its
    sequences), read its migration version, and nothing else: no DDL, no TRUNCATE.
    Run after every migration, so tables a new migration adds are covered."""
    r = quoted(role)
    version = f"alembic_version_{name}"
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {r}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {version} FROM {r}",
    ]
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", exc)).split())
        raise ConfigError(f"granting the {name} database's tables to {role}: {reason}") from exc
