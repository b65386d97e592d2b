"""Zones (decisions 57 and 60): a ``zone`` row per TLD of the installation, each
registrar's accreditations in ``registrar_zone``, and a ``zone_id`` on what belongs to
a zone. A database that already holds a registry is one zone's: its origin (passed by
``tldsec db upgrade`` and ``tldsec init`` from ``tldsec.toml``) becomes zone 1, every
row gets zone 1 and every registrar is accredited to it from its creation. No row is
rewritten but to fill the new columns; ids, serials, digests and tokens are kept.

Revision ID: 0007_zones
Revises: 0006_change_trace
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from tldsec.clock import SystemClock
from tldsec.db.types import UtcDateTime
from tldsec.errors import ConfigError

revision = "0007_zones"
down_revision = "0006_change_trace"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FIRST = "1"  # the zone of every row of a one-zone registry (decision 60)
# Tables whose rows say the registry is in use: the zone they belong to must be known.
IN_USE = ("registrar", "domain", "host", "zone_change", "zone_serial")


def upgrade() -> None:
    bind = op.get_bind()
    origin = context.config.attributes.get("origin")
    in_use = [t for t in IN_USE if bind.execute(sa.text(f"SELECT 1 FROM {t} LIMIT 1")).first()]
    if origin is None and in_use:
        raise ConfigError(
            f"the registry database holds a registry ({', '.join(in_use)}) but the "
            "migration was not told its zone: run 'tldsec db upgrade --home HOME', "
            "which reads the origin from the home's [zone] table"
        )
    # Without an origin, a new database: 'tldsec zone add' (or init) makes its zones.
    op.create_table(
        "zone",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("origin", sa.String(254), nullable=False, unique=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy", sa.String(64), nullable=False, server_default="default"),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "registrar_zone",
        sa.Column("registrar_id", sa.Integer, sa.ForeignKey("registrar.id"), primary_key=True),
        sa.Column("zone_id", sa.Integer, sa.ForeignKey("zone.id"), primary_key=True),
        sa.Column("accredited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_registrar_zone_zone_id", "registrar_zone", ["zone_id"])
    for table in ("domain", "zone_change", "zone_digest"):
        op.add_column(table, sa.Column("zone_id", sa.Integer, nullable=False, server_default=FIRST))
    op.create_index("ix_domain_zone_id_name", "domain", ["zone_id", "name"])
    op.create_index("ix_zone_change_zone_id_id", "zone_change", ["zone_id", "id"])
    op.create_index("ix_zone_digest_zone_id", "zone_digest", ["zone_id"])
    op.add_column("host", sa.Column("zone_id", sa.Integer))  # NULL: outside every zone
    op.create_index("ix_host_zone_id", "host", ["zone_id"])
    op.add_column("epp_transaction", sa.Column("zone_id", sa.Integer))  # NULL: login, poll
    _serial_trace_per_zone()

    if origin is not None:
        _first_zone(bind, str(origin))


def _serial_trace_per_zone() -> None:
    """``serial_trace`` keyed by (zone_id, serial, stage, node): two zones' serials may be
    equal. A new table filled from the old one, which works alike on both dialects."""
    op.create_table(
        "serial_trace_new",
        sa.Column("zone_id", sa.Integer, primary_key=True, server_default=FIRST),
        sa.Column("serial", sa.BigInteger, primary_key=True),
        sa.Column("stage", sa.String(16), primary_key=True),
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "INSERT INTO serial_trace_new (zone_id, serial, stage, node, at) "
        f"SELECT {FIRST}, serial, stage, node, at FROM serial_trace"
    )
    op.drop_table("serial_trace")
    op.rename_table("serial_trace_new", "serial_trace")
    if op.get_bind().dialect.name == "postgresql":  # the primary key keeps its first name
        op.execute(
            "ALTER TABLE serial_trace RENAME CONSTRAINT serial_trace_new_pkey TO serial_trace_pkey"
        )


def _first_zone(bind: sa.Connection, origin: str) -> None:
    """Zone 1 is the home's origin; its hosts and every registrar's accreditation."""
    origin = (origin if origin.endswith(".") else origin + ".").lower()
    bind.execute(
        sa.text(
            "INSERT INTO zone (id, origin, added_at, policy) VALUES (1, :o, :at, 'default')"
        ).bindparams(sa.bindparam("at", type_=UtcDateTime())),
        {"o": origin, "at": SystemClock().now()},
    )
    # Host names are stored without the final dot (registry/names.py).
    bare = origin.rstrip(".")
    bind.execute(
        sa.text("UPDATE host SET zone_id = 1 WHERE name = :bare OR name LIKE :under ESCAPE '\\'"),
        {"bare": bare, "under": "%." + bare.replace("%", r"\%").replace("_", r"\_")},
    )
    bind.execute(
        sa.text(
            "INSERT INTO registrar_zone (registrar_id, zone_id, accredited_at) "
            "SELECT id, 1, created_at FROM registrar"
        )
    )
    if bind.dialect.name == "postgresql":  # the next zone's id follows the one given here
        bind.execute(sa.text("SELECT setval(pg_get_serial_sequence('zone', 'id'), 1)"))


def downgrade() -> None:
    op.create_table(
        "serial_trace_old",
        sa.Column("serial", sa.BigInteger, primary_key=True),
        sa.Column("stage", sa.String(16), primary_key=True),
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "INSERT INTO serial_trace_old (serial, stage, node, at) "
        f"SELECT serial, stage, node, at FROM serial_trace WHERE zone_id = {FIRST}"
    )
    op.drop_table("serial_trace")
    op.rename_table("serial_trace_old", "serial_trace")
    op.drop_column("epp_transaction", "zone_id")
    op.drop_index("ix_host_zone_id", "host")
    op.drop_column("host", "zone_id")
    op.drop_index("ix_zone_digest_zone_id", "zone_digest")
    op.drop_index("ix_zone_change_zone_id_id", "zone_change")
    op.drop_index("ix_domain_zone_id_name", "domain")
    for table in ("domain", "zone_change", "zone_digest"):
        op.drop_column(table, "zone_id")
    op.drop_index("ix_registrar_zone_zone_id", "registrar_zone")
    op.drop_table("registrar_zone")
    op.drop_table("zone")
