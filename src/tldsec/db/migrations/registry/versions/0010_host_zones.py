"""Every in-zone host names its zone (decisions 57, 65): a host written since
0007_zones by a writer that did not name one (``host:create`` outside EPP's routing, a
registry import) has ``zone_id`` NULL, and the builder writes glue only for the hosts of
its zone. Such a host takes its superordinate domain's zone (the zone it is
in-bailiwick of); a host outside every zone keeps NULL.

Revision ID: 0010_host_zones
Revises: 0009_lease_per_zone
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_host_zones"
down_revision = "0009_lease_per_zone"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().execute(
        sa.text(
            "UPDATE host SET zone_id = (SELECT d.zone_id FROM domain d WHERE d.name = "
            "host.parent_name) WHERE zone_id IS NULL AND parent_name IS NOT NULL"
        )
    )


def downgrade() -> None:
    pass  # the zones filled in are true under the previous revision as well
