"""The registry's zone digest (decision 42): one row per owner name, and each zone
change's delta; the rows are back-filled from the registry's records.

Revision ID: 0004_zone_digest
Revises: 0003_console_users
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision = "0004_zone_digest"
down_revision = "0003_console_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("zone_change", sa.Column("digest_delta", sa.String(64)))
    op.add_column("zone_change", sa.Column("count_delta", sa.Integer))
    op.create_table(
        "zone_digest",
        sa.Column("owner", sa.String(254), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        *(sa.Column(f"d{i}", sa.BigInteger, nullable=False) for i in range(8)),
    )
    # The back-fill reads the registry with the same queries the ledger uses.
    from tldsec.registry.zonedigest import rebuild

    session = Session(bind=op.get_bind())
    rebuild(session, zones=False)  # the schema has no zone_id yet
    session.flush()


def downgrade() -> None:
    op.drop_table("zone_digest")
    op.drop_column("zone_change", "count_delta")
    op.drop_column("zone_change", "digest_delta")
