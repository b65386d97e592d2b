"""Operator transfer (DPS 4.6, keys/transfer.py): the gaining operator's public keys, and
the handover's facts on the zone row.

Revision ID: 0006_operator_transfer
Revises: 0005_unsigned_since
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_operator_transfer"
down_revision = "0005_unsigned_since"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "signer_foreign_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("operator", sa.String(255), nullable=False),
        sa.Column("flags", sa.Integer, nullable=False),
        sa.Column("algorithm", sa.Integer, nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("key_tag", sa.Integer, nullable=False),
        sa.Column("imported", TS, nullable=False),
        sa.Column("withdrawn", TS, nullable=True),
    )
    with op.batch_alter_table("signer_meta") as table:
        table.add_column(sa.Column("transfer_operator", sa.String(255), nullable=True))
        table.add_column(sa.Column("transfer_started", TS, nullable=True))
        table.add_column(sa.Column("transfer_peer_ds_seen", TS, nullable=True))
        table.add_column(sa.Column("transfer_handed_over", TS, nullable=True))
        table.add_column(sa.Column("transfer_ended", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signer_meta") as table:
        for name in (
            "transfer_ended",
            "transfer_handed_over",
            "transfer_peer_ds_seen",
            "transfer_started",
            "transfer_operator",
        ):
            table.drop_column(name)
    op.drop_table("signer_foreign_keys")
