"""Every ledger row names its zone (decision 75): ``zone_digest.zone_id`` was left at
the column's default, zone 1, by every writer since 0007_zones, and a zone's sum was
read over the owners under its origin. Each row takes the zone whose origin its owner
is under (zones are not nested: at most one); an owner under no zone keeps zone 1.

Revision ID: 0012_zone_digest_zones
Revises: 0011_trace_node_zones
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_zone_digest_zones"
down_revision = "0011_trace_node_zones"
branch_labels = None
depends_on = None

_ITS_ZONE = "FROM zone z WHERE zone_digest.owner LIKE '%.' || z.origin"


def upgrade() -> None:
    op.get_bind().execute(
        sa.text(
            f"UPDATE zone_digest SET zone_id = (SELECT z.id {_ITS_ZONE}) "
            f"WHERE EXISTS (SELECT 1 {_ITS_ZONE})"
        )
    )


def downgrade() -> None:
    pass  # the zones filled in are true under the previous revision as well
