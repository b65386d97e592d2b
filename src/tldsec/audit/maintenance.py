"""The retention schedule of DPS 4.4.3, derived from the log, and one run of it.

"Audit logs are kept on-line for one year, then archived for at least three years":
entries older than the on-line retention go to a signed archive file and leave the
database, and an archive past the archive retention may be deleted. Nothing is stored
about the schedule: each due time is computed from the facts (STYLE 4):

* archive and purge are due ``archive_interval`` after the oldest not-yet-archived entry
  passed the on-line retention (so each file holds about that long a stretch);
* deleting an expired archive is due when its newest entry passes the archive retention.

``tldsec serve`` sleeps until the next due time (``run_due``), ``tldsec status`` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from tldsec.audit.archive import (
    ArchiveResult,
    PurgeResult,
    archive_old_entries,
    destroy_expired_archives,
    purge_archived,
)
from tldsec.audit.events import Actor
from tldsec.audit.log import AuditLog
from tldsec.audit.models import ENTRIES
from tldsec.audit.query import load_archive_records
from tldsec.errors import AuditError
from tldsec.policy import AuditPolicy

ACTOR = Actor.component("audit-maintenance")


@dataclass(frozen=True, slots=True)
class Schedule:
    """When archive+purge and archive deletion are next due (``None``: nothing to do)."""

    archive_due: datetime | None
    destroy_due: datetime | None

    def next(self) -> datetime | None:
        due = [d for d in (self.archive_due, self.destroy_due) if d is not None]
        return min(due) if due else None

    def as_json(self) -> dict[str, str | None]:
        return {
            "archive_and_purge": self.archive_due.isoformat() if self.archive_due else None,
            "delete_expired_archives": self.destroy_due.isoformat() if self.destroy_due else None,
        }


def schedule(
    engine: Engine, policy: AuditPolicy, archive_dir: Path, interval: timedelta
) -> Schedule:
    """The next due times, from the oldest unarchived entry and the archive records."""
    records = load_archive_records(engine)
    archived_upto = records[-1].last_seq if records else 0
    try:
        with engine.connect() as conn:
            # The first entry after the archives, by its primary key (time order follows
            # sequence order: the writer reads the clock under the log's lock).
            oldest = conn.execute(
                select(ENTRIES.c.time)
                .where(ENTRIES.c.seq > archived_upto)
                .order_by(ENTRIES.c.seq)
                .limit(1)
            ).scalar_one_or_none()
            first_online = conn.execute(select(func.min(ENTRIES.c.seq))).scalar_one()
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit log: {exc}") from exc
    archive_due = None if oldest is None else oldest + policy.online_retention + interval
    # Only archives whose entries have left the database may go (destroy_expired_archives).
    purged_upto = (first_online - 1) if first_online is not None else archived_upto
    kept = [
        r for r in records if r.last_seq <= purged_upto and (archive_dir / r.file_name).exists()
    ]
    destroy_due = min((r.newest_time for r in kept), default=None)
    return Schedule(
        archive_due,
        None if destroy_due is None else destroy_due + policy.archive_retention,
    )


@dataclass(frozen=True, slots=True)
class MaintenanceRun:
    """What one run did."""

    archived: ArchiveResult | None
    purged: PurgeResult | None
    destroyed: tuple[Path, ...]


def run_due(
    log: AuditLog,
    *,
    policy: AuditPolicy,
    archive_dir: Path,
    interval: timedelta,
    maintenance: Engine | None,
) -> MaintenanceRun:
    """Archive, purge and delete expired archives, each if due now.

    Without a maintenance engine on PostgreSQL the purge is skipped (the application
    role cannot purge); the archive still happens, and status says purge waits for it.
    """
    assert log.signer is not None
    now = log.clock.now()
    due = schedule(log.engine, policy, archive_dir, interval)
    archived = purged = None
    destroyed: list[Path] = []
    if due.archive_due is not None and due.archive_due <= now:
        archived = archive_old_entries(
            log, directory=archive_dir, online_retention=policy.online_retention, actor=ACTOR
        )
    if load_archive_records(log.engine) and (
        maintenance is not None or log.engine.dialect.name == "sqlite"
    ):
        purged = purge_archived(
            log,
            directory=archive_dir,
            online_retention=policy.online_retention,
            actor=ACTOR,
            keys={log.signer.key_id: log.signer.public_key()},
            maintenance=maintenance,
        )
    if due.destroy_due is not None and due.destroy_due <= now:
        destroyed = destroy_expired_archives(
            log, directory=archive_dir, archive_retention=policy.archive_retention, actor=ACTOR
        )
    return MaintenanceRun(archived, purged, tuple(destroyed))
