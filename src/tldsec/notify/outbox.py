"""The persistent outbox: one JSON file per message in a spool directory under the home.

``outbox/`` holds messages waiting to be sent (with their attempts and the time of the
next one), ``sent/`` those the SMTP server accepted (with the Message-ID), ``failed/``
those given up after ``[notify] max_attempts``. A notice id (``Draft.id``) found in any
of them is never made again. Every file is written atomically (a crash leaves the old
file or the new one) and moved between directories by ``rename``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tldsec.atomicfile import replacing
from tldsec.audit.entry import format_time, parse_time

WAITING, SENT, FAILED = "outbox", "sent", "failed"


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered message to one recipient."""

    notice: str  # the notice id (Draft.id)
    kind: str
    recipient: str
    subject: str
    body: str
    created: datetime
    next_attempt: datetime
    attempts: int = 0
    last_error: str = ""
    message_id: str = ""
    sent: datetime | None = None

    @property
    def file_name(self) -> str:
        """Stable per (notice, recipient); readable, and safe as a file name."""
        digest = hashlib.sha256(f"{self.notice}\0{self.recipient}".encode()).hexdigest()[:16]
        return f"{re.sub(r'[^A-Za-z0-9.-]+', '_', self.notice)[:80]}.{digest}.json"

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("created", "next_attempt", "sent"):
            value = getattr(self, name)
            out[name] = format_time(value) if value is not None else None
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        times = {
            name: parse_time(data[name]) if data.get(name) else None
            for name in ("created", "next_attempt", "sent")
        }
        return cls(**{**data, **times})

    def failed_attempt(self, error: str, now: datetime, first: float, longest: float) -> Message:
        """After a failed attempt: the next one ``first * 2**(attempts-1)`` seconds later,
        at most ``longest``."""
        attempts = self.attempts + 1
        wait = min(first * 2 ** (attempts - 1), longest)
        return replace(
            self,
            attempts=attempts,
            last_error=error[:500],
            next_attempt=now + timedelta(seconds=wait),
        )


class Outbox:
    """The spool directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in (WAITING, SENT, FAILED):
            (root / name).mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, state: str, message: Message) -> Path:
        return self.root / state / message.file_name

    def known(self, notice: str, zone: str | None = None) -> bool:
        """Whether messages of this notice were ever queued (with ``zone``: messages of
        that zone only, by their subject; a notice id from before decision 72, which
        did not name the zone)."""
        prefix = re.sub(r"[^A-Za-z0-9.-]+", "_", notice)[:80] + "."
        for state in (WAITING, SENT, FAILED):
            for p in (self.root / state).iterdir():
                if not p.name.startswith(prefix) or _notice_of(p) != notice:
                    continue
                if zone is None or zone_of(_message_at(p)) == zone:
                    return True
        return False

    def add(self, messages: Sequence[Message]) -> None:
        for m in messages:
            self.save(WAITING, m)

    def save(self, state: str, message: Message) -> None:
        path = self._path(state, message)
        with replacing(path, "w", encoding="utf-8", permissions=0o600) as out:
            json.dump(message.as_json(), out, indent=1, sort_keys=True)

    def move(self, message: Message, state: str) -> None:
        """Record ``message`` in ``state`` and take it out of the waiting ones."""
        self.save(state, message)
        if state != WAITING:
            self._path(WAITING, message).unlink(missing_ok=True)

    def messages(self, state: str = WAITING) -> Iterator[Message]:
        for p in sorted((self.root / state).glob("*.json")):
            yield Message.from_json(json.loads(p.read_text("utf-8")))

    def due(self, now: datetime) -> list[Message]:
        return sorted(
            (m for m in self.messages() if m.next_attempt <= now), key=lambda m: m.created
        )


def counts(root: Path) -> dict[str, int] | None:
    """Messages waiting, sent and given up; None when there is no outbox (nothing made).
    Reads the directory only (for ``tldsec status``: it writes nothing)."""
    if not (root / WAITING).is_dir():
        return None
    return {
        state: sum(1 for _ in (root / state).glob("*.json")) if (root / state).is_dir() else 0
        for state in (WAITING, SENT, FAILED)
    }


def zone_of(message: Message) -> str:
    """The zone a message is of: every template's subject starts with ``[ZONE]`` (a
    notice of the whole installation, a DPS change, names the zone whose pass queued
    it); "" when it does not."""
    match = re.match(r"\[([^\]\s]+)\]", message.subject)
    return match.group(1) if match else ""


def _message_at(path: Path) -> Message:
    return Message.from_json(json.loads(path.read_text("utf-8")))


def _notice_of(path: Path) -> str | None:
    try:
        value = json.loads(path.read_text("utf-8")).get("notice")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, str) else None
