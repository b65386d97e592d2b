"""One trace per zone change (decision 51): each zone-change row keeps its EPP svTRID,
clTRID and registrar; ``change_trace`` says which serial included which traced change,
``serial_trace`` when each serial passed each stage (built, signed, verified, published,
served by each secondary, live), ``change_note`` which poll messages were queued.

Revision ID: 0006_change_trace
Revises: 0005_publication_lease
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_change_trace"
down_revision = "0005_publication_lease"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("zone_change", sa.Column("sv_trid", sa.String(64)))
    op.add_column("zone_change", sa.Column("cl_trid", sa.String(64)))
    op.add_column("zone_change", sa.Column("registrar_id", sa.Integer))
    op.create_index("ix_zone_change_sv_trid", "zone_change", ["sv_trid"])
    op.create_table(
        "change_trace",
        sa.Column("change_id", BigId, primary_key=True),
        sa.Column("serial", sa.BigInteger, primary_key=True),
    )
    op.create_index("ix_change_trace_serial", "change_trace", ["serial"])
    op.create_table(
        "serial_trace",
        sa.Column("serial", sa.BigInteger, primary_key=True),
        sa.Column("stage", sa.String(16), primary_key=True),
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "change_note",
        sa.Column("change_id", BigId, primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("change_note")
    op.drop_table("serial_trace")
    op.drop_index("ix_change_trace_serial", "change_trace")
    op.drop_table("change_trace")
    op.drop_index("ix_zone_change_sv_trid", "zone_change")
    op.drop_column("zone_change", "registrar_id")
    op.drop_column("zone_change", "cl_trid")
    op.drop_column("zone_change", "sv_trid")
