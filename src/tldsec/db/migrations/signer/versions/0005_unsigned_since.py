"""Signer meta: the zone is unsigned since when (DPS 4.6, going insecure's last step).

Revision ID: 0005_unsigned_since
Revises: 0004_go_insecure
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_unsigned_since"
down_revision = "0004_go_insecure"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signer_meta") as table:
        table.add_column(sa.Column("unsigned_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signer_meta") as table:
        table.drop_column("unsigned_since")
