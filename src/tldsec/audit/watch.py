"""Continuous analysis of the audit log (DPS 4.4.2: "logs are continuously analyzed
through automatic and manual controls"): the automatic control.

``AuditWatch.check()`` reads the entries appended since its previous check and

- proves they extend the chain it has already seen: consecutive numbers, each entry's
  ``prev_hash`` the hash before it, each hash recomputed from the entry. A gap, a break
  or a changed entry is an *integrity alarm*: the log was tampered with or damaged;
- raises an *alert* for every entry at or above the alert level (default ``warning``):
  clock anomalies, failed cycles and verifications, changes not committed, refused
  access, crashes ...

Each entry is analysed once, when it arrives; the last one analysed is read again at
every check (changed since: an alarm), and an older entry changed after its analysis is
found by ``tldsec audit verify`` (the whole chain, its checkpoints and anchors: run it
from cron too). ``WatchState`` keeps the position between runs for ``tldsec audit watch
--once`` from cron, so each run checks everything since the previous one.
``tldsec serve`` runs a check every few seconds, logs each alarm and alert at ERROR (its
JSON log feeds the operator's monitoring) and shows them on its health endpoint, which
reports ``degraded`` after an integrity alarm. ``tldsec audit watch`` runs the same
check from a terminal or a cron job (the manual control is ``tldsec audit show``).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from tldsec.atomicfile import replacing
from tldsec.audit.entry import Entry, format_time
from tldsec.audit.events import Level
from tldsec.audit.models import ENTRIES
from tldsec.audit.query import EntryFilter, entry_from_row, head_row, iter_entries
from tldsec.errors import AuditError

STATE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class WatchState:
    """Where a cron watch stopped: the last entry analysed and its hash (a JSON file)."""

    seq: int
    hash: str | None

    @classmethod
    def load(cls, path: Path) -> WatchState | None:
        """The saved position, or ``None`` when there is none yet (check from the start)."""
        try:
            data = json.loads(path.read_text("utf-8"))
            return cls(
                int(data["seq"]), data["hash"] if data["hash"] is None else str(data["hash"])
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AuditError(
                f"the watch state {path} cannot be read ({exc}); remove it to check the "
                "whole log again, or give --from-seq"
            ) from exc

    def save(self, path: Path) -> None:
        with replacing(path, "w", encoding="utf-8", permissions=STATE_MODE) as f:
            f.write(json.dumps({"seq": self.seq, "hash": self.hash}) + "\n")


@dataclass(frozen=True, slots=True)
class Alert:
    """An entry an operator must look at, or a break in the chain (``integrity``)."""

    seq: int
    time: str
    level: str
    event: str
    actor: str
    summary: str
    integrity: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "level": self.level,
            "event": self.event,
            "actor": self.actor,
            "summary": self.summary,
            "integrity": self.integrity,
        }

    def line(self) -> str:
        kind = "AUDIT INTEGRITY" if self.integrity else f"audit {self.level}"
        return f"{kind}: #{self.seq} {self.time} {self.event} by {self.actor}: {self.summary}"


@dataclass
class AuditWatch:
    """Follows one audit database from a position; ``check()`` analyses what is new."""

    engine: Engine
    alert_level: Level = Level.WARNING
    keep: int = 100
    seq: int = 0  # the last entry analysed (0: none yet)
    hash: str | None = None  # its hash; None: take the next entry's prev_hash on trust
    alerts: deque[Alert] = field(default_factory=deque)
    integrity_alarms: int = 0

    @classmethod
    def from_head(cls, engine: Engine, **options: Any) -> AuditWatch:
        """A watch that starts after the entry that is newest now."""
        seq, head_hash = head_row(engine)
        return cls(engine, seq=seq, hash=head_hash if seq else None, **options)

    @property
    def state(self) -> WatchState:
        return WatchState(self.seq, self.hash)

    def check(self) -> list[Alert]:
        """Analyse the entries appended since the last check; the new alerts."""
        new: list[Alert] = self._recheck_last()
        for entry in iter_entries(self.engine, EntryFilter(from_seq=self.seq + 1)):
            new.extend(self._integrity(entry))
            if Level.parse(entry.level).rank >= self.alert_level.rank:
                new.append(_alert(entry, _summary(entry)))
            self.seq, self.hash = entry.seq, entry.hash
        head, _ = head_row(self.engine)
        if head < self.seq:
            new.append(
                Alert(
                    head,
                    "-",
                    "critical",
                    "audit.head",
                    "-",
                    f"the log now ends at entry {head}; entries up to {self.seq} existed",
                    True,
                )
            )
            self.seq, self.hash = head, None
        for alert in new:
            self.integrity_alarms += alert.integrity
            self.alerts.append(alert)
            while len(self.alerts) > self.keep:
                self.alerts.popleft()
        return new

    def _recheck_last(self) -> list[Alert]:
        """The last entry analysed must still be there with the hash it had."""
        if self.seq == 0 or self.hash is None:
            return []
        try:
            with self.engine.connect() as conn:
                row = conn.execute(select(ENTRIES).where(ENTRIES.c.seq == self.seq)).one_or_none()
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot read the audit log: {exc}") from exc
        if row is None:
            if head_row(self.engine)[0] < self.seq:
                return []  # the log was cut: check() reports it from the head row
            summary = f"entry {self.seq}, analysed before, is gone"
        else:
            entry = entry_from_row(row)
            if entry.hash == self.hash and entry.computed_hash() == entry.hash:
                return []
            summary = f"entry {self.seq} changed since it was analysed"
        return [Alert(self.seq, "-", "critical", "audit.entry", "-", summary, True)]

    def _integrity(self, entry: Entry) -> list[Alert]:
        found = []
        if entry.seq != self.seq + 1:
            found.append(_alert(entry, f"entries {self.seq + 1}-{entry.seq - 1} are missing", True))
        elif self.hash is not None and entry.prev_hash != self.hash:
            found.append(_alert(entry, f"does not chain onto entry {self.seq}", True))
        if entry.computed_hash() != entry.hash:
            found.append(_alert(entry, "its content no longer matches its hash", True))
        return found

    def status(self) -> dict[str, Any]:
        """For the health endpoint: position, integrity, the newest alerts."""
        return {
            "checked_through": self.seq,
            "integrity": "ok" if not self.integrity_alarms else "ALARM",
            "integrity_alarms": self.integrity_alarms,
            "alert_level": self.alert_level.value,
            "alerts": [a.as_json() for a in list(self.alerts)[-10:]],
        }


def _alert(entry: Entry, summary: str, integrity: bool = False) -> Alert:
    return Alert(
        seq=entry.seq,
        time=format_time(entry.time),
        level=entry.level,
        event=entry.event,
        actor=entry.actor,
        summary=summary,
        integrity=integrity,
    )


def _summary(entry: Entry) -> str:
    """The entry's details on one line, the longest values cut."""
    parts = []
    for key, value in sorted(entry.details.items()):
        text = str(value)
        parts.append(f"{key}={text if len(text) <= 80 else text[:77] + '...'}")
    return ", ".join(parts) or "(no details)"
