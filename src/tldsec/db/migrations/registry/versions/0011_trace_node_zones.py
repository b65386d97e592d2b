"""A secondary registered for the live pass names its zone (decision 72, issue 19): a
home's secondaries serve some of its zones (decision 63), so a serial of zone Z is live
once every secondary registered *for Z* serves it, not every secondary of every zone.
The table holds registrations renewed every minute (``trace/live.py``), so it is made
again keyed by (zone_id, name) rather than altered: a row lost here is written again by
its primary's next pass.

Revision ID: 0011_trace_node_zones
Revises: 0010_host_zones
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_trace_node_zones"
down_revision = "0010_host_zones"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("trace_node")
    op.create_table(
        "trace_node",
        sa.Column("zone_id", sa.Integer, primary_key=True, server_default="1"),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("primary", sa.String(128), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trace_node")
    op.create_table(
        "trace_node",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("primary", sa.String(128), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
