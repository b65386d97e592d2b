"""Console sessions: random ids in a Secure, HttpOnly, SameSite=Strict cookie, held in
this process with an idle timeout, each with its own CSRF token.

The store is in memory: one console process serves a registry (``tldsec console
serve`` or beside the rest in ``tldsec serve``); a restart logs everyone out.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tldsec.clock import Clock
from tldsec.registry.routing import NO_ACCREDITATIONS, Accreditations

COOKIE = "tldsec_console"
PRE_LOGIN_COOKIE = "tldsec_console_login"  # the login form's CSRF token (double submit)
MAX_SESSIONS = 10_000  # the oldest idle ones go first beyond this


@dataclass(slots=True)
class ConsoleSession:
    """One logged-in person: who, from where, the CSRF token, the last request; in a
    registry of zones, the registrar's accreditations read at login (as an EPP session's,
    decision 61) and the zone the pages show (``console/zones.py``)."""

    client_id: str
    registrar_id: int
    user: str
    source: str
    csrf: str
    last_seen: datetime
    notices: list[str] = field(default_factory=list)
    accreditations: Accreditations = NO_ACCREDITATIONS
    zone: str | None = None  # the selected zone's origin ("shop.")

    @property
    def actor(self) -> str:
        """The audit actor: ``registrar:ID/user``."""
        return f"registrar:{self.client_id}/{self.user}"


class SessionStore:
    """Sessions by id; ``get`` forgets one idle longer than the timeout."""

    def __init__(self, clock: Clock, idle_timeout: timedelta) -> None:
        self.clock = clock
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._sessions: dict[str, ConsoleSession] = {}

    def open(
        self,
        client_id: str,
        registrar_id: int,
        user: str,
        source: str,
        accreditations: Accreditations = NO_ACCREDITATIONS,
    ) -> str:
        """A new session id (a fresh one at every login: no session fixation)."""
        now = self.clock.now()
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                self._expire(now)
                while len(self._sessions) >= MAX_SESSIONS:
                    oldest = min(self._sessions, key=lambda k: self._sessions[k].last_seen)
                    del self._sessions[oldest]
            self._sessions[session_id] = ConsoleSession(
                client_id,
                registrar_id,
                user,
                source,
                secrets.token_urlsafe(32),
                now,
                accreditations=accreditations,
            )
        return session_id

    def get(self, session_id: str | None) -> ConsoleSession | None:
        """The live session with this id, its idle clock restarted; None if unknown or
        idle too long (then forgotten)."""
        if not session_id:
            return None
        now = self.clock.now()
        with self._lock:
            found = self._sessions.get(session_id)
            if found is None:
                return None
            if now - found.last_seen > self.idle_timeout:
                del self._sessions[session_id]
                return None
            found.last_seen = now
            return found

    def close(self, session_id: str | None) -> ConsoleSession | None:
        with self._lock:
            return self._sessions.pop(session_id, None) if session_id else None

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self, now: datetime) -> None:
        for key in [k for k, s in self._sessions.items() if now - s.last_seen > self.idle_timeout]:
            del self._sessions[key]
