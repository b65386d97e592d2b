"""The registry: registrars, contacts, domains, hosts, DS, history, zone changes, EPP log.

Revision ID: 0001_registry
Revises:
Create Date: 2024-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_registry"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _registrar_fk(column: str, nullable: bool = True) -> sa.Column[int]:
    return sa.Column(column, sa.Integer, sa.ForeignKey("registrar.id"), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "registrar",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_id", sa.String(16), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("cert_fingerprint", sa.String(64)),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS),
    )
    op.create_table(
        "contact",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("handle", sa.String(16), nullable=False, unique=True),
        _registrar_fk("registrar_id", nullable=False),
        _registrar_fk("creator_id", nullable=False),
        _registrar_fk("updater_id"),
        sa.Column("postal_json", sa.Text, nullable=False),
        sa.Column("voice", sa.String(32)),
        sa.Column("fax", sa.String(32)),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("auth_hash", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS),
    )
    op.create_table(
        "contact_status",
        sa.Column(
            "contact_id",
            sa.Integer,
            sa.ForeignKey("contact.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("status", sa.String(32), primary_key=True),
    )
    op.create_table(
        "domain",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(253), nullable=False, unique=True),
        _registrar_fk("registrar_id", nullable=False),
        _registrar_fk("creator_id", nullable=False),
        _registrar_fk("updater_id"),
        sa.Column("registrant_id", sa.Integer, sa.ForeignKey("contact.id")),
        sa.Column("auth_hash", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("transferred_at", TS),
        sa.Column("transfer_status", sa.String(20)),
        _registrar_fk("transfer_gaining_id"),
        _registrar_fk("transfer_losing_id"),
        sa.Column("transfer_requested_at", TS),
        sa.Column("transfer_action_at", TS),
        sa.Column("transfer_years", sa.Integer),
    )
    op.create_index("ix_domain_registrar_id", "domain", ["registrar_id"])
    op.create_index("ix_domain_registrant_id", "domain", ["registrant_id"])
    op.create_table(
        "domain_status",
        sa.Column(
            "domain_id",
            sa.Integer,
            sa.ForeignKey("domain.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("status", sa.String(32), primary_key=True),
    )
    op.create_table(
        "domain_contact",
        sa.Column(
            "domain_id",
            sa.Integer,
            sa.ForeignKey("domain.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("contact_id", sa.Integer, sa.ForeignKey("contact.id"), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
    )
    op.create_index("ix_domain_contact_contact_id", "domain_contact", ["contact_id"])
    op.create_table(
        "host",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(253), nullable=False, unique=True),
        _registrar_fk("registrar_id", nullable=False),
        _registrar_fk("creator_id", nullable=False),
        _registrar_fk("updater_id"),
        sa.Column("parent_name", sa.String(253)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS),
    )
    op.create_index("ix_host_parent_name", "host", ["parent_name"])
    op.create_table(
        "host_address",
        sa.Column(
            "host_id", sa.Integer, sa.ForeignKey("host.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("address", sa.String(45), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "host_status",
        sa.Column(
            "host_id", sa.Integer, sa.ForeignKey("host.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("status", sa.String(32), primary_key=True),
    )
    op.create_table(
        "domain_ns",
        sa.Column(
            "domain_id",
            sa.Integer,
            sa.ForeignKey("domain.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("host_id", sa.Integer, sa.ForeignKey("host.id"), primary_key=True),
    )
    op.create_index("ix_domain_ns_host_id", "domain_ns", ["host_id"])
    op.create_table(
        "ds_record",
        sa.Column(
            "domain_id",
            sa.Integer,
            sa.ForeignKey("domain.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key_tag", sa.Integer, primary_key=True),
        sa.Column("algorithm", sa.Integer, primary_key=True),
        sa.Column("digest_type", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(128), primary_key=True),
    )
    op.create_table(
        "poll_message",
        sa.Column("id", BIG_ID, primary_key=True),
        _registrar_fk("registrar_id", nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("transfer_json", sa.Text),
    )
    op.create_index("ix_poll_message_registrar_id", "poll_message", ["registrar_id"])
    op.create_table(
        "registry_history",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("client_id", sa.String(16), nullable=False),
        sa.Column("object_type", sa.String(16), nullable=False),
        sa.Column("object_name", sa.String(253), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("sv_trid", sa.String(64), nullable=False),
        sa.Column("cl_trid", sa.String(64)),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_registry_history_object_name", "registry_history", ["object_name"])
    op.create_table(
        "zone_change",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
    )
    op.create_table(
        "epp_transaction",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("client_id", sa.String(16)),
        sa.Column("peer", sa.String(64)),
        sa.Column("command", sa.String(32), nullable=False),
        sa.Column("object_name", sa.String(253)),
        sa.Column("cl_trid", sa.String(64)),
        sa.Column("sv_trid", sa.String(64), nullable=False),
        sa.Column("result_code", sa.Integer, nullable=False),
        sa.Column("duration_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("sv_trid"),
    )
    op.create_index("ix_epp_transaction_at", "epp_transaction", ["at"])
    op.create_table(
        "zone_serial",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("serial", sa.BigInteger, nullable=False),
        sa.Column("built_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "zone_serial",
        "epp_transaction",
        "zone_change",
        "registry_history",
        "poll_message",
        "ds_record",
        "domain_ns",
        "host_status",
        "host_address",
        "host",
        "domain_contact",
        "domain_status",
        "domain",
        "contact_status",
        "contact",
        "registrar",
    ):
        op.drop_table(table)
