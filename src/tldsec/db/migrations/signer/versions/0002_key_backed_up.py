"""Keys: when each was first in a checked archive under the SMK (DPS 5.2.4).

Revision ID: 0002_key_backed_up
Revises: 0001_signer_keys
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_key_backed_up"
down_revision = "0001_signer_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signer_keys") as table:
        table.add_column(sa.Column("backed_up", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signer_keys") as table:
        table.drop_column("backed_up")
