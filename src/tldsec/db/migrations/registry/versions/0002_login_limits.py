"""EPP login limits shared by every EPP process and host: the failed-login counter, and a
registrar's optional list of networks it logs in from.

Revision ID: 0002_login_limits
Revises: 0001_registry
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_login_limits"
down_revision = "0001_registry"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("registrar", sa.Column("allowed_networks", sa.Text))
    op.create_table(
        "login_failure",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(96), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("login_failure_key_at", "login_failure", ["key", "at"])


def downgrade() -> None:
    op.drop_index("login_failure_key_at", "login_failure")
    op.drop_table("login_failure")
    op.drop_column("registrar", "allowed_networks")
