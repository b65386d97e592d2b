"""The audit log: entries, head, checkpoints, archives; append-only triggers; purge path.

Revision ID: 0001_audit
Revises:
Create Date: 2024-01-01

Both databases get triggers that refuse UPDATE and DELETE on the entries, checkpoints
and archive records (DPS 4.4.4) and refuse moving the head backwards. The one way to
remove entries is the purge of archived ones (DPS 4.4.3):

* PostgreSQL: ``tldsec_audit_purge(upto)``, SECURITY DEFINER, checks ``upto`` against
  the archive records and sets the transaction-local ``tldsec.audit_purge_upto`` that the
  trigger requires; the application role gets EXECUTE on it and no DELETE on the table.
* SQLite (no roles: whoever can write the file owns it): the trigger lets DELETE remove
  only rows that an archive record covers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_audit"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HASH = sa.String(64)
GENESIS_HASH = "0" * 64
APPEND_ONLY = ("audit_entries", "audit_checkpoints", "audit_archives")


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=False),
        sa.Column("time", TS, nullable=False),
        sa.Column("actor", sa.String(140), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("prev_hash", HASH, nullable=False),
        sa.Column("hash", HASH, nullable=False),
    )
    op.create_index("ix_audit_entries_time", "audit_entries", ["time"])
    op.create_index("ix_audit_entries_actor", "audit_entries", ["actor"])
    op.create_index("ix_audit_entries_event", "audit_entries", ["event"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", SEQ, nullable=False),
        sa.Column("hash", HASH, nullable=False),
        sa.Column("time", TS),
        sa.Column("clock_state", sa.String(16)),
        sa.Column("checkpoint_seq", SEQ, nullable=False),
        sa.Column("checkpoint_time", TS),
        sa.CheckConstraint("id = 1", name="ck_audit_head_single_row"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH, "checkpoint_seq": 0}])
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=False),
        sa.Column("head_hash", HASH, nullable=False),
        sa.Column("time", TS, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
    )
    op.create_table(
        "audit_archives",
        sa.Column("last_seq", SEQ, primary_key=True, autoincrement=False),
        sa.Column("first_seq", SEQ, nullable=False),
        sa.Column("prev_hash", HASH, nullable=False),
        sa.Column("head_hash", HASH, nullable=False),
        sa.Column("newest_time", TS, nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_sha256", HASH, nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_guards()
    else:
        _sqlite_guards()


def _sqlite_guards() -> None:
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'tldsec audit log: UPDATE on {table} is refused: "
            "the log is append-only (DPS 4.4.4)'); END"
        )
    for table in ("audit_checkpoints", "audit_archives"):
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'tldsec audit log: DELETE on {table} is refused: "
            "the log is append-only (DPS 4.4.4)'); END"
        )
    op.execute(
        "CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries "
        "WHEN OLD.seq > (SELECT coalesce(max(last_seq), 0) FROM audit_archives) "
        "BEGIN SELECT RAISE(ABORT, 'tldsec audit log: DELETE on audit_entries is refused: "
        "only archived entries may be purged (DPS 4.4.3)'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
        "BEGIN SELECT RAISE(ABORT, 'tldsec audit log: the head row cannot be deleted'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head "
        "WHEN NEW.seq < OLD.seq OR NEW.checkpoint_seq < OLD.checkpoint_seq "
        "BEGIN SELECT RAISE(ABORT, 'tldsec audit log: the head never moves backwards'); END"
    )


def _postgresql_guards() -> None:
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar_one()
    s = f'"{schema}"'
    op.execute(
        f"""
        CREATE FUNCTION {s}.tldsec_audit_refuse_row() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_entries'
             AND coalesce(current_setting('tldsec.audit_purge_upto', true), '') <> '' THEN
            IF OLD.seq <= current_setting('tldsec.audit_purge_upto', true)::bigint
               AND OLD.seq <= (SELECT coalesce(max(last_seq), 0) FROM {s}.audit_archives)
            THEN
              RETURN OLD;
            END IF;
          END IF;
          RAISE EXCEPTION 'tldsec audit log: % on % is refused: the log is append-only '
                          '(DPS 4.4.4)', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION {s}.tldsec_audit_refuse_statement() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'tldsec audit log: % on % is refused: the log is append-only '
                          '(DPS 4.4.4)', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION {s}.tldsec_audit_head_guard() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND NEW.seq >= OLD.seq
             AND NEW.checkpoint_seq >= OLD.checkpoint_seq THEN
            RETURN NEW;
          END IF;
          RAISE EXCEPTION 'tldsec audit log: the head row never moves backwards or goes away'
            USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {s}.{table} "
            f"FOR EACH ROW EXECUTE FUNCTION {s}.tldsec_audit_refuse_row()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {s}.{table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {s}.tldsec_audit_refuse_statement()"
        )
    op.execute(
        f"CREATE TRIGGER audit_head_guard BEFORE UPDATE OR DELETE ON {s}.audit_head "
        f"FOR EACH ROW EXECUTE FUNCTION {s}.tldsec_audit_head_guard()"
    )
    op.execute(
        f"CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON {s}.audit_head "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {s}.tldsec_audit_refuse_statement()"
    )
    # The narrow, audited purge path (DPS 4.4.3). SECURITY DEFINER: runs with the owner's
    # DELETE privilege, which the application role does not have.
    op.execute(
        f"""
        CREATE FUNCTION {s}.tldsec_audit_purge(upto bigint) RETURNS bigint
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE
          archived bigint;
          removed bigint;
        BEGIN
          SELECT coalesce(max(last_seq), 0) INTO archived FROM {s}.audit_archives;
          IF upto > archived THEN
            RAISE EXCEPTION 'tldsec audit log: entries after % are not archived; '
                            'refusing to purge up to %', archived, upto
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          PERFORM set_config('tldsec.audit_purge_upto', upto::text, true);
          DELETE FROM {s}.audit_entries WHERE seq <= upto;
          GET DIAGNOSTICS removed = ROW_COUNT;
          PERFORM set_config('tldsec.audit_purge_upto', '', true);
          RETURN removed;
        END $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {s}.tldsec_audit_purge(bigint) FROM PUBLIC")


def downgrade() -> None:
    raise RuntimeError("the audit log is never downgraded: that would destroy it (DPS 4.4.3)")
