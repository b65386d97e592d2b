"""The DPS 4.4.3 schedule derived from the log, and one run of it (audit/maintenance.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tldsec.audit.log import AuditLog
from tldsec.audit.maintenance import run_due, schedule
from tldsec.audit.query import load_archive_records
from tldsec.clock import FakeClock
from tldsec.policy import AuditPolicy

from .conftest import START

POLICY = AuditPolicy(online_retention=timedelta(days=365), archive_retention=timedelta(days=1095))
MONTH = timedelta(days=30)


def test_archive_purge_and_deletion_fall_due_as_the_entries_age(
    audit_log: AuditLog, clock: FakeClock, tmp_path: Path
) -> None:
    for _ in range(10):
        audit_log.record("facility.entry", actor="person:ann")
        clock.advance(timedelta(days=10))
    due = schedule(audit_log.engine, POLICY, tmp_path, MONTH)
    assert due.archive_due == START + timedelta(days=365) + MONTH
    assert due.destroy_due is None
    # Not due yet: nothing happens.
    clock.set(START + timedelta(days=300))
    done = run_due(audit_log, policy=POLICY, archive_dir=tmp_path, interval=MONTH, maintenance=None)
    assert done.archived is None and done.destroyed == ()
    # Due: the entries past a year are archived and purged (SQLite: no maintenance role).
    clock.set(START + timedelta(days=400))
    done = run_due(audit_log, policy=POLICY, archive_dir=tmp_path, interval=MONTH, maintenance=None)
    assert done.archived is not None and done.purged is not None and done.purged.removed > 0
    due = schedule(audit_log.engine, POLICY, tmp_path, MONTH)
    assert due.destroy_due is not None and due.archive_due is not None
    (record,) = load_archive_records(audit_log.engine)
    assert due.destroy_due == record.newest_time + POLICY.archive_retention
    # Three years after its newest entry the archive file is deleted.
    clock.set(due.destroy_due + timedelta(days=1))
    done = run_due(audit_log, policy=POLICY, archive_dir=tmp_path, interval=MONTH, maintenance=None)
    assert len(done.destroyed) == 1 and not done.destroyed[0].exists()
    later = schedule(audit_log.engine, POLICY, tmp_path, MONTH).destroy_due
    assert later is None or later > clock.now()  # only newer archives remain
