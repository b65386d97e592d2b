"""What a long-running component records when it starts and stops (DPS 4.4.1, 5.8).

At every start of ``tldsec serve``: ``system.started`` with the software version and
the SHA-256 of ``tldsec.toml`` and of the policy file. Compared with the previous start
(read from the log itself, nothing stored elsewhere): a different version is
``software.updated``, a different configuration ``config.changed``, a different policy
``policy.changed``; and a previous start with no ``system.stopped`` after it is a
``system.crash`` of that run, recorded now ("at the next start, from the last state").
While it runs, ``FileWatch`` notices a changed configuration or policy file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from tldsec.audit.entry import Entry
from tldsec.audit.events import EventType
from tldsec.audit.log import AuditLog
from tldsec.audit.models import ENTRIES
from tldsec.audit.query import entry_from_row
from tldsec.errors import AuditError
from tldsec.settings import CONFIG_NAME, Settings

BUILT_IN = "built-in"


@dataclass(frozen=True, slots=True)
class FileHashes:
    """The configuration and policy files as they are now."""

    config_sha256: str
    policy_file: str
    policy_sha256: str

    @classmethod
    def of(cls, settings: Settings) -> FileHashes:
        policy = settings.config.policy.file
        policy_path = None
        if policy:
            policy_path = Path(policy) if Path(policy).is_absolute() else settings.home / policy
        return cls(
            _sha256(settings.home / CONFIG_NAME),
            str(policy_path) if policy_path else BUILT_IN,
            _sha256(policy_path) if policy_path else BUILT_IN,
        )


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "absent"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"


def _last(log: AuditLog, event: EventType, actor: str) -> Entry | None:
    c = ENTRIES.c
    query = (
        select(ENTRIES)
        .where(c.event == event.value, c.actor == actor)
        .order_by(c.seq.desc())
        .limit(1)
    )
    try:
        with log.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit log: {exc}") from exc
    return None if row is None else entry_from_row(row)


def record_start(log: AuditLog, settings: Settings, *, actor: str, version: str) -> list[Entry]:
    """Record this start, and what changed since the previous one (see the module)."""
    now = FileHashes.of(settings)
    previous = _last(log, EventType.SYSTEM_STARTED, actor)
    written: list[Entry] = []
    if previous is not None:
        stopped = _last(log, EventType.SYSTEM_STOPPED, actor)
        if stopped is None or stopped.seq < previous.seq:
            written.append(
                log.record(
                    EventType.SYSTEM_CRASH,
                    actor=actor,
                    component=actor.partition(":")[2],
                    started=previous.time,
                    started_seq=previous.seq,
                    pid=previous.details.get("pid"),
                    found="at the next start: the previous run never recorded its stop",
                )
            )
        before = previous.details
        if before.get("version") != version:
            written.append(
                log.record(
                    EventType.SOFTWARE_UPDATED,
                    actor=actor,
                    previous=before.get("version"),
                    version=version,
                )
            )
        written += changed_files(log, actor, before, now)
    written.append(
        log.record(
            EventType.SYSTEM_STARTED,
            actor=actor,
            version=version,
            pid=os.getpid(),
            config_file=str(settings.home / CONFIG_NAME),
            config_sha256=now.config_sha256,
            policy_file=now.policy_file,
            policy_sha256=now.policy_sha256,
        )
    )
    return written


def changed_files(log: AuditLog, actor: str, before: object, now: FileHashes) -> list[Entry]:
    """``config.changed`` / ``policy.changed`` for each hash that differs from ``before``
    (a ``system.started`` entry's details, or the last hashes a running watch saw)."""
    old = before if isinstance(before, dict) else {}
    written: list[Entry] = []
    if old.get("config_sha256") != now.config_sha256:
        written.append(
            log.record(
                EventType.CONFIG_CHANGED,
                actor=actor,
                previous_sha256=old.get("config_sha256"),
                sha256=now.config_sha256,
            )
        )
    if (old.get("policy_file"), old.get("policy_sha256")) != (now.policy_file, now.policy_sha256):
        written.append(
            log.record(
                EventType.POLICY_CHANGED,
                actor=actor,
                previous_file=old.get("policy_file"),
                previous_sha256=old.get("policy_sha256"),
                file=now.policy_file,
                sha256=now.policy_sha256,
            )
        )
    return written


def record_stop(log: AuditLog, *, actor: str) -> Entry:
    return log.record(EventType.SYSTEM_STOPPED, actor=actor, pid=os.getpid())


def as_details(hashes: FileHashes) -> dict[str, str]:
    return {
        "config_sha256": hashes.config_sha256,
        "policy_file": hashes.policy_file,
        "policy_sha256": hashes.policy_sha256,
    }
