"""Each audit entry names the zone it concerns (issue 19 item 5, decisions.md 58).

Revision ID: 0003_audit_entry_zone
Revises: 0002_audit_registered_purge
Create Date: 2026-12-07

One nullable column and its index; no entry is rewritten. Entries written before it
have no zone (NULL) and keep the hash they were written with: the canonical body has a
``zone`` member only when the entry names one (audit/entry.py). The append-only
triggers stay as they are: they refuse every UPDATE, so no entry can be given a zone
afterwards either.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_audit_entry_zone"
down_revision = "0002_audit_registered_purge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_entries", sa.Column("zone", sa.String(255), nullable=True))
    op.create_index("ix_audit_entries_zone", "audit_entries", ["zone"])


def downgrade() -> None:
    op.drop_index("ix_audit_entries_zone", table_name="audit_entries")
    op.drop_column("audit_entries", "zone")
