"""The audit log's part of ``tldsec status`` and of ``tldsec serve``'s ``/health``.

Read-only: the head, the newest checkpoint, the anchors (and a warning when none is out
of the home's reach), and when archive and purge are next due (DPS 4.4.3).
"""

from __future__ import annotations

from typing import Any

from tldsec.audit.anchors import anchor_health
from tldsec.audit.config import AuditConfig, audit_config
from tldsec.audit.log import AuditLog
from tldsec.audit.maintenance import schedule
from tldsec.audit.retention import audit_retention
from tldsec.audit.schema import current_revision
from tldsec.clock import Clock
from tldsec.db.base import make_engine
from tldsec.db.exists import database_exists
from tldsec.errors import AuditError
from tldsec.settings import Settings


def audit_status(settings: Settings, clock: Clock) -> dict[str, Any]:
    """What ``tldsec status`` shows of the audit log; never creates it."""
    config = audit_config(settings)
    if not database_exists(config.db_url):  # status never creates one (db/exists.py)
        return {"initialized": False, "warnings": ["no audit log: run 'tldsec audit init'"]}
    engine = make_engine(config.db_url)
    anchors = config.anchors()
    try:
        if current_revision(engine) is None:
            return {"initialized": False, "warnings": ["no audit log: run 'tldsec audit init'"]}
        log = AuditLog(engine, clock, signer=None, anchors=anchors)
        return log_status(settings, config, log)
    except AuditError as exc:
        return {"initialized": None, "warnings": [str(exc)]}
    finally:
        for anchor in anchors:
            closer = getattr(anchor, "close", None)
            if closer is not None:
                closer()
        engine.dispose()


def log_status(settings: Settings, config: AuditConfig, log: AuditLog) -> dict[str, Any]:
    """The status of an open log (``/health`` keeps one open)."""
    head = log.head()
    health = anchor_health(
        log.anchors, home=settings.home, newest_checkpoint=head.checkpoint_seq,
        error=log.anchor_error,
    )  # fmt: skip
    retention = audit_retention(settings)
    due = schedule(log.engine, retention.policy, config.archive_dir, config.archive_interval)
    warnings = list(health.warnings)
    can_purge = config.maintenance_url is not None or log.engine.dialect.name == "sqlite"
    if not can_purge:
        warnings.append(
            "archived entries are not purged: set [audit] maintenance_url to the maintenance "
            "role ('tldsec audit grant --maintenance ROLE')"
        )
    return {
        "initialized": True,
        "head": head.seq,
        "checkpoint": head.checkpoint_seq,
        "checkpoint_time": head.checkpoint_time.isoformat() if head.checkpoint_time else None,
        "anchors": list(health.anchors),
        "external_anchors": list(health.external),
        "retention": retention.as_json(),
        "next_maintenance": due.as_json(),
        "warnings": warnings,
    }
