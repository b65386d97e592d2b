"""Keys per zone (decisions 57 and 60): ``signer_meta`` holds one row per zone (its
``id`` the registry's zone id, its ``origin`` unique), and every key, key event and
foreign key names its zone; a key tag is unique per zone, not per database. A signer
database written before is zone 1's (its one ``signer_meta`` row): every row gets zone
1, no key is generated, no HSM object is touched, no fact changes.

Revision ID: 0007_keys_per_zone
Revises: 0006_operator_transfer
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from tldsec.errors import ConfigError

revision = "0007_keys_per_zone"
down_revision = "0006_operator_transfer"
branch_labels = None
depends_on = None

FIRST = "1"  # the zone of every row of a one-zone signer database
# Names for the constraints 0001 left unnamed, so that SQLite's batch copy can drop them.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    bind = op.get_bind()
    origin = context.config.attributes.get("origin")
    row = bind.execute(sa.text("SELECT origin FROM signer_meta WHERE id = 1")).first()
    if origin is not None and row is not None and _bare(row[0]) != _bare(str(origin)):
        raise ConfigError(
            f"the signer database holds the keys of {row[0]} but the home's zone is "
            f"{origin}: check [database] signer_url and the home before migrating"
        )
    # 0001's unique key tag: named by PostgreSQL, unnamed on SQLite (NAMING names it).
    old_unique = (
        next(
            (
                u["name"]
                for u in sa.inspect(bind).get_unique_constraints("signer_keys")
                if u["column_names"] == ["key_tag"]
            ),
            None,
        )
        or "uq_signer_keys_key_tag"
    )
    with op.batch_alter_table("signer_keys", naming_convention=NAMING) as table:
        table.add_column(sa.Column("zone_id", sa.Integer, nullable=False, server_default=FIRST))
        table.drop_constraint(old_unique, type_="unique")
        # RFC 4034 Appendix B: a tag names a key within a zone; two zones' may be equal.
        table.create_unique_constraint("uq_signer_keys_zone_id_key_tag", ["zone_id", "key_tag"])
    for name in ("signer_key_events", "signer_foreign_keys"):
        with op.batch_alter_table(name) as table:
            table.add_column(sa.Column("zone_id", sa.Integer, nullable=False, server_default=FIRST))
    with op.batch_alter_table("signer_meta") as table:
        table.create_unique_constraint("uq_signer_meta_origin", ["origin"])


def _bare(origin: str) -> str:
    return origin.lower().rstrip(".")


def downgrade() -> None:
    with op.batch_alter_table("signer_meta") as table:
        table.drop_constraint("uq_signer_meta_origin", type_="unique")
    for name in ("signer_foreign_keys", "signer_key_events"):
        with op.batch_alter_table(name) as table:
            table.drop_column("zone_id")
    with op.batch_alter_table("signer_keys") as table:
        table.drop_constraint("uq_signer_keys_zone_id_key_tag", type_="unique")
        table.drop_column("zone_id")
        table.create_unique_constraint("signer_keys_key_tag_key", ["key_tag"])
