"""The signer's keys: the zone row, one row per key with its facts, the transition history.

Revision ID: 0001_signer_keys
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_signer_keys"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
FACTS = (
    "published",
    "active",
    "retired",
    "removed",
    "ds_submitted",
    "ds_seen",
    "ds_withdrawal_requested",
    "ds_withdrawn",
    "compromised",
    "rollover_requested",
)


def upgrade() -> None:
    op.create_table(
        "signer_meta",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("writes", sa.Integer, nullable=False),
    )
    op.create_table(
        "signer_keys",
        sa.Column("key_id", sa.String(128), primary_key=True),
        sa.Column("role", sa.String(3), nullable=False),
        sa.Column("algorithm", sa.Integer, nullable=False),
        sa.Column("bits", sa.Integer, nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        # A key tag is never reused in a zone's history (tag-collision rule).
        sa.Column("key_tag", sa.Integer, nullable=False, unique=True),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("created", TS, nullable=False),
        *(sa.Column(name, TS, nullable=True) for name in FACTS),
    )
    op.create_table(
        "signer_key_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time", TS, nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("key_tag", sa.Integer, nullable=False),
        sa.Column("role", sa.String(3), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(140), nullable=False),
    )
    op.create_index("ix_signer_key_events_time", "signer_key_events", ["time"])
    op.create_index("ix_signer_key_events_key_id", "signer_key_events", ["key_id"])


def downgrade() -> None:
    op.drop_table("signer_key_events")
    op.drop_table("signer_keys")
    op.drop_table("signer_meta")
