"""The registrar console's people: one TOTP secret (encrypted) per person of a registrar.

Revision ID: 0003_console_users
Revises: 0002_login_limits
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_console_users"
down_revision = "0002_login_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_user",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("registrar_id", sa.Integer, sa.ForeignKey("registrar.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("totp_secret", sa.Text, nullable=False),
        sa.Column("totp_last_step", sa.BigInteger, nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("registrar_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("console_user")
