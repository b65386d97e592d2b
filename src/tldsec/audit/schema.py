"""Creating and upgrading the audit database, and the grants for the application role."""

from __future__ import annotations

import re

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from tldsec.db import migrate
from tldsec.errors import AuditError

MIGRATIONS = migrate.environment("audit")
VERSION_TABLE = "alembic_version_audit"
_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$-]{0,62}")


def _config(connection: Connection | None = None) -> Config:
    return migrate.alembic_config("audit", connection)


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise AuditError(f"no audit migrations found in {MIGRATIONS}")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the audit database to the newest revision (creating it if empty)."""
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "head")
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot create or upgrade the audit database: {exc}") from exc


def ensure_schema(engine: Engine) -> None:
    """Upgrade only when the database is not at the newest revision."""
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot open the audit database: {exc}") from exc
    if current != head_revision():
        upgrade(engine)


LOG_TABLES = "audit_entries, audit_checkpoints, audit_archives"
PURGE_FUNCTION = "tldsec_audit_purge(bigint)"


def _grant(engine: Engine, role: str, statements: list[str], check: str | None = None) -> None:
    if engine.dialect.name != "postgresql":
        raise AuditError("roles exist only on PostgreSQL; an SQLite audit log is one file")
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
            if check is not None:
                holders = [
                    str(r[0])
                    for r in conn.execute(text(check), {"role": role, "f": PURGE_FUNCTION})
                ]
                if holders:
                    raise AuditError(
                        f"role {role} can act as {', '.join(holders)}, which may purge the "
                        "audit log: the application role must not be able to assume the "
                        "maintenance role or be a superuser (DPS 4.4.3); nothing granted"
                    )
    except SQLAlchemyError as exc:
        raise AuditError(f"granting audit privileges to {role}: {exc}") from exc


def _quoted(role: str) -> str:
    if not _ROLE.fullmatch(role):
        raise AuditError(f"{role!r} is not a plain role name")
    return f'"{role}"'


def _append_and_read(r: str) -> list[str]:
    """What the application and the maintenance role share, in this order: nothing on
    the log but SELECT and INSERT, UPDATE only on the head row (DPS 4.4.4)."""
    return [
        f"REVOKE ALL ON {LOG_TABLES}, audit_head FROM {r}",
        f"GRANT SELECT, INSERT ON {LOG_TABLES} TO {r}",
        f"GRANT SELECT, UPDATE ON audit_head TO {r}",
        f"GRANT SELECT ON {VERSION_TABLE} TO {r}",
    ]


def grant_app_role(engine: Engine, role: str) -> None:
    """PostgreSQL: let ``role`` append and read, and nothing else.

    The role gets SELECT and INSERT on the append-only tables, UPDATE on the head row
    (writers lock it with SELECT ... FOR UPDATE), and explicitly no UPDATE, DELETE or
    TRUNCATE on the log and no EXECUTE on the purge function (DPS 4.4.4). Refused when
    the role could still purge through another role it can assume (or as superuser).
    """
    r = _quoted(role)
    _grant(
        engine,
        role,
        [
            *_append_and_read(r),
            f"REVOKE EXECUTE ON FUNCTION {PURGE_FUNCTION} FROM {r}",
        ],
        check=(
            "SELECT rolname FROM pg_roles WHERE pg_has_role(:role, oid, 'MEMBER') "
            "AND (rolsuper OR (rolname <> :role AND has_function_privilege(oid, :f, 'EXECUTE')))"
            " ORDER BY rolname"
        ),
    )


def grant_maintenance_role(engine: Engine, role: str) -> None:
    """PostgreSQL: the maintenance role appends and reads like the application, and alone
    may call ``tldsec_audit_purge`` (DPS 4.4.3). It still has no DELETE of its own."""
    r = _quoted(role)
    _grant(
        engine,
        role,
        [
            *_append_and_read(r),
            f"GRANT EXECUTE ON FUNCTION {PURGE_FUNCTION} TO {r}",
        ],
    )
