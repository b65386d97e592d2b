"""Signer meta: the zone is going insecure (DPS 4.6, keys/go_insecure.py) since when, why.

Revision ID: 0004_go_insecure
Revises: 0003_key_algorithm_rollover
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_go_insecure"
down_revision = "0003_key_algorithm_rollover"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signer_meta") as table:
        table.add_column(sa.Column("insecure_requested", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("insecure_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signer_meta") as table:
        table.drop_column("insecure_reason")
        table.drop_column("insecure_requested")
