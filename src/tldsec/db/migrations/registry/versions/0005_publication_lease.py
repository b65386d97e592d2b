"""The publication lease (decision 49): which signer may publish, with its fencing token.

Revision ID: 0005_publication_lease
Revises: 0004_zone_digest
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_publication_lease"
down_revision = "0004_zone_digest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "publication_lease",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("acquired_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )
    # Nobody holds it, expired since the epoch: the first signer to ask takes token 1.
    op.bulk_insert(
        table, [{"name": "zone", "holder": "", "token": 0, "acquired_ms": 0, "expires_ms": 0}]
    )


def downgrade() -> None:
    op.drop_table("publication_lease")
