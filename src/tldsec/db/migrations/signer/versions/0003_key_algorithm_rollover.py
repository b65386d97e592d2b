"""Keys: the facts of an algorithm rollover (RFC 6781 4.1.4): presigned, unpublished.

Revision ID: 0003_key_algorithm_rollover
Revises: 0002_key_backed_up
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_key_algorithm_rollover"
down_revision = "0002_key_backed_up"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signer_keys") as table:
        table.add_column(sa.Column("presigned", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("unpublished", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signer_keys") as table:
        table.drop_column("unpublished")
        table.drop_column("presigned")
