"""The publication lease per zone (decision 57, "Lease, serial, secondaries, TSIG per
zone"; decision 65): the one row ``zone`` becomes the row of zone 1, named by its origin
(``example.``), holder, token and times kept, so primaries that saw its fencing token go
on refusing an older one. Each other zone's row is made by its first signer. The name
widens to a whole origin (254 octets).

Revision ID: 0009_lease_per_zone
Revises: 0008_trace_nodes
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tldsec.errors import ConfigError

revision = "0009_lease_per_zone"
down_revision = "0008_trace_nodes"
branch_labels = None
depends_on = None

OLD_NAME = "zone"


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("publication_lease") as batch:
        batch.alter_column("name", type_=sa.String(254), existing_type=sa.String(64))
    # Decision 60: zone 1 is the home's one zone (0007 made it from tldsec.toml's origin).
    origin = bind.execute(sa.text("SELECT origin FROM zone WHERE id = 1")).scalar()
    if origin is not None:
        bind.execute(
            sa.text("UPDATE publication_lease SET name = :origin WHERE name = :old"),
            {"origin": origin, "old": OLD_NAME},
        )
        return
    # No zone: a new database (0005 made the row unused). A row some signer took has a
    # fencing token primaries remember: it is not dropped without knowing its zone.
    token = bind.execute(
        sa.text("SELECT token FROM publication_lease WHERE name = :old"), {"old": OLD_NAME}
    ).scalar()
    if token:
        raise ConfigError(
            f"the publication lease was taken (fencing token {token}) but the registry "
            "has no zone to name it by: run 'tldsec db upgrade --home HOME'"
        )
    bind.execute(sa.text("DELETE FROM publication_lease WHERE name = :old"), {"old": OLD_NAME})


def downgrade() -> None:
    bind = op.get_bind()
    origin = bind.execute(sa.text("SELECT origin FROM zone WHERE id = 1")).scalar()
    # One row again: zone 1's, named as before; the other zones' rows cannot be kept.
    bind.execute(
        sa.text("DELETE FROM publication_lease WHERE name != :origin"), {"origin": origin or ""}
    )
    bind.execute(
        sa.text("UPDATE publication_lease SET name = :old WHERE name = :origin"),
        {"origin": origin or "", "old": OLD_NAME},
    )
    if bind.execute(sa.text("SELECT count(*) FROM publication_lease")).scalar() == 0:
        bind.execute(
            sa.text(
                "INSERT INTO publication_lease (name, holder, token, acquired_ms, expires_ms)"
                " VALUES (:old, '', 0, 0, 0)"
            ),
            {"old": OLD_NAME},
        )
    with op.batch_alter_table("publication_lease") as batch:
        batch.alter_column("name", type_=sa.String(64), existing_type=sa.String(254))
