"""What a long-running component records when it starts and stops (DPS 4.4.1, 5.8).

At every start of ``tldsec serve``: ``system.started`` with the software version and
the SHA-256 of ``tldsec.toml`` and of the policy files (every policy the home's zones
follow, in settings narrowed to one zone too: ``FileHashes.of``); and a previous start
with no ``system.stopped`` after it is a ``system.crash`` of that run, recorded now ("at
the next start, from the last state").

Every command that opens the log (``config.open_audit_log``) and serve while it runs
compare the version and the two files with the last ones the log holds
(``record_changes``: the newest ``audit.initialized``, ``system.started``,
``software.updated``, ``config.changed`` and ``policy.changed``, one indexed query):
a different version is ``software.updated``, a different configuration
``config.changed``, a different policy ``policy.changed``, each with the old and the
new value; nothing when unchanged, so a command run from cron adds no entries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from tldsec.audit.entry import Entry
from tldsec.audit.events import Actor, EventType
from tldsec.audit.log import AuditLog
from tldsec.audit.models import ENTRIES
from tldsec.audit.query import entry_from_row
from tldsec.errors import AuditError
from tldsec.settings import (
    CONFIG_NAME,
    Settings,
    file_sha256,
    home_policy_files,
    join_by_policy,
    split_by_policy,
)

BUILT_IN = "built-in"


@dataclass(frozen=True, slots=True)
class FileHashes:
    """The configuration and policy files as they are now."""

    config_sha256: str
    policy_file: str
    policy_sha256: str

    @classmethod
    def of(cls, settings: Settings) -> FileHashes:
        """The hashes now. A home whose zones follow several policies names each, in
        the order of its zones: ``default=FILE, long=FILE`` and ``default=HASH,
        long=HASH`` (decision 79; one policy: its file and hash, as always). Always the
        whole home's policies, from ``tldsec.toml``'s tables, in settings narrowed to
        one zone too: a zone's command records no change of the others (decision 82)."""
        files = home_policy_files(settings)
        return cls(
            _sha256(settings.home / CONFIG_NAME),
            join_by_policy({n: str(f) if f else BUILT_IN for n, f in files.items()}),
            join_by_policy({n: _sha256(f) if f else BUILT_IN for n, f in files.items()}),
        )


def _sha256(path: Path) -> str:
    try:
        return file_sha256(path)
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
    """Record this start, and what changed since the log last saw it (see the module)."""
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
    written += record_changes(log, settings, actor=actor, version=version, now=now)
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


# The entries that carry the version and the file hashes, and under which keys.
_STATE_EVENTS = (
    EventType.AUDIT_INITIALIZED,
    EventType.SYSTEM_STARTED,
    EventType.SOFTWARE_UPDATED,
    EventType.CONFIG_CHANGED,
    EventType.POLICY_CHANGED,
)
_VERSION_KEY = {
    EventType.AUDIT_INITIALIZED: "version",
    EventType.SYSTEM_STARTED: "version",
    EventType.SOFTWARE_UPDATED: "version",
}
_CONFIG_KEY = {
    EventType.AUDIT_INITIALIZED: "config_sha256",
    EventType.SYSTEM_STARTED: "config_sha256",
    EventType.CONFIG_CHANGED: "sha256",
}
_POLICY_KEYS = {
    EventType.AUDIT_INITIALIZED: ("policy_file", "policy_sha256"),
    EventType.SYSTEM_STARTED: ("policy_file", "policy_sha256"),
    EventType.POLICY_CHANGED: ("file", "sha256"),
}


@dataclass(frozen=True, slots=True)
class Recorded:
    """The version and file hashes the log holds last (None: never recorded)."""

    version: str | None
    config_sha256: str | None
    policy: tuple[str, str] | None


def recorded_state(log: AuditLog) -> Recorded:
    """The newest entry of each state event, in one query on the indexed ``event``."""
    c = ENTRIES.c
    newest = (
        select(func.max(c.seq))
        .where(c.event.in_([e.value for e in _STATE_EVENTS]))
        .group_by(c.event)
    )
    query = select(ENTRIES).where(c.seq.in_(newest)).order_by(c.seq.desc())
    try:
        with log.engine.connect() as conn:
            entries = [entry_from_row(row) for row in conn.execute(query)]
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit log: {exc}") from exc
    version = config = None
    policy: tuple[str, str] | None = None
    for entry in entries:  # newest first: the first that carries a value is the last one
        event = EventType(entry.event)
        details = entry.details
        key = _VERSION_KEY.get(event)
        if version is None and key and key in details:
            version = str(details[key])
        key = _CONFIG_KEY.get(event)
        if config is None and key and key in details:
            config = str(details[key])
        keys = _POLICY_KEYS.get(event)
        if policy is None and keys and keys[1] in details:
            policy = (str(details.get(keys[0])), str(details[keys[1]]))
    return Recorded(version, config, policy)


def record_changes(
    log: AuditLog,
    settings: Settings,
    *,
    actor: Actor | str,
    version: str,
    now: FileHashes | None = None,
) -> list[Entry]:
    """``software.updated``, ``config.changed``, ``policy.changed`` for what differs from
    the last values the log holds (DPS 4.4.1); nothing when all are the same. A log
    that never recorded a value (one older than this check) gets the value now."""
    now = now or FileHashes.of(settings)
    last = recorded_state(log)
    written: list[Entry] = []
    if last.version != version:
        written.append(
            log.record(
                EventType.SOFTWARE_UPDATED, actor=actor, previous=last.version, version=version
            )
        )
    if last.config_sha256 != now.config_sha256:
        written.append(
            log.record(
                EventType.CONFIG_CHANGED,
                actor=actor,
                file=str(settings.home / CONFIG_NAME),
                previous_sha256=last.config_sha256,
                sha256=now.config_sha256,
            )
        )
    if last.policy != (now.policy_file, now.policy_sha256):
        previous_file, previous_sha256 = last.policy or (None, None)
        # Several policies before and after: which of them changed, by name (decision 82).
        before, after = split_by_policy(previous_sha256), split_by_policy(now.policy_sha256)
        named: dict[str, Any] = (
            {}
            if before is None or after is None
            else {
                "changed": [
                    n for n in dict.fromkeys([*before, *after]) if before.get(n) != after.get(n)
                ]
            }
        )
        written.append(
            log.record(
                EventType.POLICY_CHANGED,
                actor=actor,
                previous_file=previous_file,
                previous_sha256=previous_sha256,
                file=now.policy_file,
                sha256=now.policy_sha256,
                **named,
            )
        )
    return written


def record_stop(log: AuditLog, *, actor: str) -> Entry:
    return log.record(EventType.SYSTEM_STOPPED, actor=actor, pid=os.getpid())


def as_details(hashes: FileHashes) -> dict[str, str]:
    """The hashes as an entry's details, under the keys ``system.started`` uses."""
    return {
        "config_sha256": hashes.config_sha256,
        "policy_file": hashes.policy_file,
        "policy_sha256": hashes.policy_sha256,
    }
