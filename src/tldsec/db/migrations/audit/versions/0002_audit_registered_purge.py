"""Purge only archives the log itself registered, and only as the maintenance role.

Revision ID: 0002_audit_registered_purge
Revises: 0001_audit
Create Date: 2026-12-07

Before, an archive record alone let entries go: the application role could insert one
(any ``file_sha256``) and call ``tldsec_audit_purge``. Now (DPS 4.4.3):

* every archive record whose entries are purged must be matched by an ``audit.archived``
  entry written after its range (file, range and SHA-256 equal), and the entry at the
  record's last sequence number must still have the record's head hash;
* PostgreSQL: the function is recreated, which drops every EXECUTE grant; only the role
  ``tldsec audit grant --maintenance ROLE`` names gets it back, and ``tldsec audit grant
  ROLE`` refuses an application role that could assume that one;
* SQLite: the DELETE trigger applies the same rule row by row (whoever owns the file can
  drop the trigger; ``verify`` then finds the purge through the archive checks).
"""

from __future__ import annotations

from alembic import op

revision = "0002_audit_registered_purge"
down_revision = "0001_audit"
branch_labels = None
depends_on = None

# SQLite: an archive record the log registered, covering the deleted row.
_SQLITE_REGISTERED = """
EXISTS (
  SELECT 1 FROM audit_archives a
  WHERE OLD.seq BETWEEN a.first_seq AND a.last_seq
    AND EXISTS (
      SELECT 1 FROM audit_entries e
      WHERE e.event = 'audit.archived' AND e.seq > a.last_seq
        AND json_extract(e.details, '$.file') = a.file_name
        AND json_extract(e.details, '$.first_seq') = a.first_seq
        AND json_extract(e.details, '$.last_seq') = a.last_seq
        AND json_extract(e.details, '$.sha256') = a.file_sha256)
    AND (SELECT hash FROM audit_entries h WHERE h.seq = a.last_seq) = a.head_hash)
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql()
    else:
        op.execute("DROP TRIGGER audit_entries_no_delete")
        op.execute(
            "CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries "
            f"WHEN NOT {_SQLITE_REGISTERED} "
            "BEGIN SELECT RAISE(ABORT, 'tldsec audit log: DELETE on audit_entries is refused: "
            "only entries of an archive the log registered may be purged (DPS 4.4.3)'); END"
        )


def _postgresql() -> None:
    from sqlalchemy import text

    schema = op.get_bind().execute(text("SELECT current_schema()")).scalar_one()
    s = f'"{schema}"'
    op.execute(f"DROP FUNCTION {s}.tldsec_audit_purge(bigint)")
    op.execute(
        f"""
        CREATE FUNCTION {s}.tldsec_audit_purge(upto bigint) RETURNS bigint
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE
          oldest bigint;
          a record;
          h text;
          removed bigint;
        BEGIN
          IF NOT EXISTS (SELECT 1 FROM {s}.audit_archives WHERE last_seq = upto) THEN
            RAISE EXCEPTION 'tldsec audit log: no archive ends at entry %; refusing to purge',
              upto USING ERRCODE = 'insufficient_privilege';
          END IF;
          SELECT min(seq) INTO oldest FROM {s}.audit_entries;
          FOR a IN SELECT * FROM {s}.audit_archives
                   WHERE last_seq >= coalesce(oldest, 0) AND last_seq <= upto
                   ORDER BY last_seq LOOP
            IF NOT EXISTS (
              SELECT 1 FROM {s}.audit_entries e
              WHERE e.event = 'audit.archived' AND e.seq > a.last_seq
                AND e.details->>'file' = a.file_name
                AND (e.details->>'first_seq')::bigint = a.first_seq
                AND (e.details->>'last_seq')::bigint = a.last_seq
                AND e.details->>'sha256' = a.file_sha256) THEN
              RAISE EXCEPTION 'tldsec audit log: the archive record % is not registered in '
                              'the log (no audit.archived entry); refusing to purge',
                a.file_name USING ERRCODE = 'insufficient_privilege';
            END IF;
            SELECT hash INTO h FROM {s}.audit_entries WHERE seq = a.last_seq;
            IF h IS DISTINCT FROM a.head_hash THEN
              RAISE EXCEPTION 'tldsec audit log: the archive record % does not end at the '
                              'log''s entry %; refusing to purge', a.file_name, a.last_seq
                USING ERRCODE = 'insufficient_privilege';
            END IF;
          END LOOP;
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
