"""What the service writes to the audit log and how it watches it (DPS 4.4.1, 4.4.2,
5.8): this run's start and orderly stop, changed config and policy files, and every
``[serve] audit_watch_seconds`` the new entries' analysis (``audit/watch.py``): alerts
and integrity alarms are logged at ERROR and shown on /health. An audit database that
cannot be reached is a fault on /health (nothing may be signed unrecorded) and is
retried at each watch interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from tldsec import __version__
from tldsec.audit.log import AuditLog
from tldsec.audit.startup import FileHashes, record_changes, record_start, record_stop
from tldsec.audit.watch import AuditWatch
from tldsec.db.base import make_engine
from tldsec.errors import TldsecError

if TYPE_CHECKING:
    from tldsec.clock import Clock
    from tldsec.settings import Settings

log = logging.getLogger("tldsec.serve")
SERVE_ACTOR = "component:serve"
STOP_RECORD_WAIT = 10.0  # seconds an orderly stop waits for its start to be recorded


class AuditMonitor:
    """The part of ``Service`` that records to and watches the audit log."""

    settings: Settings
    clock: Clock
    audit_watch: AuditWatch | None
    audit_watch_error: str | None
    audit_state: dict[str, Any]
    start_recorded: asyncio.Event
    _files: FileHashes | None

    async def _record_stop(self) -> None:
        """``system.stopped`` on an orderly stop (SIGTERM, SIGINT; DPS 4.4.1, 5.8), after
        this run's ``system.started``: a stop written before it would make the next start
        take this run for a crash. A run whose start never reached the log (an audit log
        it could not open) records no stop either."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_RECORD_WAIT):
                await self.start_recorded.wait()
        if not self.start_recorded.is_set():
            log.error("system.stopped not audited: this run's start is not in the audit log")
            return
        await asyncio.to_thread(self._audit_with, record_stop, "system.stopped")

    def _audit_with(self, write: Callable[..., Any], event: str) -> None:
        """``write(log, actor=SERVE_ACTOR)`` on a log opened for it; failures as ``_audit``."""
        from tldsec.audit.config import open_audit_log

        try:
            audit = open_audit_log(self.settings, self.clock)
        except TldsecError as exc:
            log.error("%s could not be audited: %s", event, exc)
            return
        try:
            write(audit, actor=SERVE_ACTOR)
        except TldsecError as exc:
            log.error("%s could not be audited: %s", event, exc)
        finally:
            audit.close()

    def _audit(self, event: str, **details: Any) -> None:
        """Record one entry as ``component:serve`` in a log opened for it; a failure is
        logged (serve goes on: the watch shows an audit log it cannot open)."""
        self._audit_as(event, SERVE_ACTOR, **details)

    def _audit_as(self, event: str, actor: str, **details: Any) -> None:
        """Record one entry as ``actor`` (the officer at the activation socket)."""
        from tldsec.audit.config import open_audit_log

        try:
            audit = open_audit_log(self.settings, self.clock)
        except TldsecError as exc:
            log.error("%s could not be audited: %s", event, exc)
            return
        try:
            audit.record(event, actor=actor, **details)
        except TldsecError as exc:
            log.error("%s could not be audited: %s", event, exc)
        finally:
            audit.close()

    async def watch_audit(self, seconds: float) -> None:
        """Analyse the audit log's new entries every ``seconds`` (``audit/watch.py``): each
        alert and integrity alarm is logged at ERROR and shown on the health endpoint.
        An audit log that cannot be opened or read is a fault on /health, and is opened
        again every ``seconds`` until it answers; the watch goes on where it stopped."""
        from tldsec.audit.config import open_audit_log

        while True:
            try:
                audit = await asyncio.to_thread(open_audit_log, self.settings, self.clock)
            except Exception as exc:  # a monitor retries; it never takes serve down
                self._audit_watch_failed(exc)
                await asyncio.sleep(seconds)
                continue
            try:
                await self._watch_with(audit, seconds)
            except (TldsecError, SQLAlchemyError) as exc:  # the audit database went away
                self._audit_watch_failed(exc)
            finally:
                audit.close()
            await asyncio.sleep(seconds)

    async def _watch_with(self, audit: AuditLog, seconds: float) -> None:
        if not self.start_recorded.is_set():
            # DPS 4.4.1, 5.8: this start, its version and files; a previous run's crash.
            await asyncio.to_thread(
                record_start, audit, self.settings, actor=SERVE_ACTOR, version=__version__
            )
            self.start_recorded.set()
            self._files = FileHashes.of(self.settings)
        watch = self.audit_watch
        if watch is None:
            self.audit_watch = watch = await asyncio.to_thread(AuditWatch.from_head, audit.engine)
        watch.engine = audit.engine  # reopened after an outage: on where it stopped
        self.audit_watch_error = None
        while True:
            await self.audit_housekeeping(audit)
            await asyncio.sleep(seconds)
            await self.check_audit(watch)

    async def audit_housekeeping(self, audit: AuditLog) -> None:
        """Refresh the audit status for /health (anchors, warnings, next retention run)
        and run archive and purge when the DPS 4.4.3 schedule says they are due."""
        from tldsec.audit.config import audit_config
        from tldsec.audit.maintenance import run_due
        from tldsec.audit.retention import audit_retention
        from tldsec.audit.status import log_status

        config = audit_config(self.settings)
        try:
            files = FileHashes.of(self.settings)
            if self._files is not None and files != self._files:
                # against the log, not this memory: a command may have recorded it already
                await asyncio.to_thread(
                    partial(record_changes, actor=SERVE_ACTOR, version=__version__, now=files),
                    audit,
                    self.settings,
                )
            self._files = files
            state = await asyncio.to_thread(log_status, self.settings, config, audit)
            due = state["next_maintenance"]
            times = [datetime.fromisoformat(t) for t in due.values() if t is not None]
            if times and min(times) <= self.clock.now():
                maintenance = (
                    make_engine(config.maintenance_url) if config.maintenance_url else None
                )
                try:
                    done = await asyncio.to_thread(
                        run_due,
                        audit,
                        policy=audit_retention(self.settings).policy,
                        archive_dir=config.archive_dir,
                        interval=config.archive_interval,
                        maintenance=maintenance,
                    )
                finally:
                    if maintenance is not None:
                        maintenance.dispose()
                log.info("audit retention run: %s", done)
                state = await asyncio.to_thread(log_status, self.settings, config, audit)
        except (TldsecError, SQLAlchemyError) as exc:  # the audit database went away
            log.error("audit housekeeping: %s", _one_line(exc))
            state = {**self.audit_state, "error": _one_line(exc)}
        self.audit_state = state

    async def check_audit(self, watch: AuditWatch) -> None:
        try:
            alerts = await asyncio.to_thread(watch.check)
        except (TldsecError, SQLAlchemyError) as exc:
            self._audit_watch_failed(exc)
            return
        self.audit_watch_error = None
        for alert in alerts:
            log.error(alert.line(), extra={"audit_alert": alert.as_json()})

    def _audit_watch_failed(self, exc: Exception) -> None:
        line = _one_line(exc)
        if self.audit_watch_error != line:  # once per distinct failure, not per check
            log.error("audit watch: %s", line)
        self.audit_watch_error = line


def _one_line(exc: BaseException) -> str:
    """A failure in one line; a driver's error by its original message (libpq's spans
    lines), without SQLAlchemy's statement and background link."""
    if isinstance(exc, SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        return f"audit database: {' '.join(str(orig if orig is not None else exc).split())}"
    return " ".join(str(exc).split())
