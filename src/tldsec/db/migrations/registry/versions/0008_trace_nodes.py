"""The secondaries each primary's live pass asks (``trace_node``), so that a serial is
"live" only once every secondary of every primary serves it (two sites, decision 54).

Revision ID: 0008_trace_nodes
Revises: 0007_zones
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_trace_nodes"
down_revision = "0007_zones"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trace_node",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("primary", sa.String(128), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trace_node")
