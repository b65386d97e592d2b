"""<login> (RFC 5730 2.9.1.1): credentials, pinned client certificate, services, and the
gate that rate-limits failed logins and bounds sessions per registrar.

Failed logins are logged (and audited by the registrar service) and limited twice: a
session that fails three times is closed (2501), and after five failures within five
minutes for one client id *from one address*, or from one address for any client ids,
further logins of that pair or from that address are refused with 2501 until the window
has passed (DPS 5.5: access attempts are logged and controlled). The limit is never keyed
on the client id alone: failures from other addresses cannot lock a registrar out of its
own (issue 18). Besides:

- a registrar with an allow-list (``tldsec registrar allow``) is refused (2200) from any
  other address before its password is looked at, and such attempts count against the
  address only, never against the registrar;
- a login presenting the registrar's pinned client certificate (``tldsec registrar
  cert``) is never refused by the limit: whoever holds the key is the registrar.

The counter lives in a ``FailureCounter``: ``MemoryFailures`` in one process, or
``registry.login_failures.DbFailures``, the ``login_failure`` table, which every EPP
process and host of one registry shares (one limit however many servers run).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from tldsec.clock import Clock
from tldsec.epp.command import Command
from tldsec.epp.errors import (
    AuthenticationErrorClosing,
    SessionLimitExceeded,
    UnimplementedExtension,
    UnimplementedObjectService,
    UnimplementedOption,
)
from tldsec.epp.xml.codec import EPP, EXTENSION_NAMESPACES, OBJECT_NAMESPACES, q, text_of
from tldsec.errors import AuthenticationFailed
from tldsec.registry import registrars
from tldsec.registry.context import Actor, Tx

_log = logging.getLogger(__name__)


class Peer(Protocol):
    """What the login needs to know about the connection."""

    peer: str
    cert_fingerprint: str | None
    failed_logins: int


class Gate(Protocol):
    """What logins ask of the gate: ``LoginGate`` in one process, ``RemoteGate`` in a
    worker of several (``epp/shared_gate.py``)."""

    max_sessions: int
    max_failures_per_session: int

    def blocked(self, *keys: str) -> bool: ...
    def failed(self, *keys: str) -> None: ...
    def open_session(self, client_id: str) -> bool: ...
    def close_session(self, client_id: str) -> None: ...


class FailureCounter(Protocol):
    """Where failed logins are counted, by key."""

    def most(self, keys: Sequence[str], since: datetime) -> int:
        """The largest number of failures of any of ``keys`` after ``since``."""
        ...

    def add(self, keys: Sequence[str], at: datetime, forget_before: datetime) -> None:
        """A failure at ``at`` under each key; older than ``forget_before`` may go."""
        ...

    def tracked(self, since: datetime) -> int:
        """How many keys have failures after ``since``."""
        ...


class MemoryFailures:
    """Failures counted in this process only (one EPP process, or the supervisor)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, deque[datetime]] = {}

    def most(self, keys: Sequence[str], since: datetime) -> int:
        with self._lock:
            return max((len(self._recent(key, since)) for key in keys), default=0)

    def add(self, keys: Sequence[str], at: datetime, forget_before: datetime) -> None:
        with self._lock:
            for key in keys:
                times = self._recent(key, forget_before)
                times.append(at)
                self._failures[key] = times

    def tracked(self, since: datetime) -> int:
        with self._lock:
            for key in list(self._failures):
                self._recent(key, since)
            return len(self._failures)

    def _recent(self, key: str, since: datetime) -> deque[datetime]:
        """The failures of ``key`` after ``since``; keys without any are forgotten."""
        times = self._failures.get(key) or deque()
        while times and times[0] <= since:
            times.popleft()
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times


@dataclass(frozen=True, slots=True)
class LoginResult:
    actor: Actor
    objects: frozenset[str]
    extensions: frozenset[str]


class LoginGate:
    """Failed-login rate limits and per-registrar session counts, shared by all sessions."""

    def __init__(
        self,
        clock: Clock,
        *,
        max_sessions: int = 8,
        max_failures: int = 5,
        window: timedelta = timedelta(minutes=5),
        max_failures_per_session: int = 3,
        failures: FailureCounter | None = None,
    ) -> None:
        self.clock = clock
        self.max_sessions = max_sessions
        self.max_failures = max_failures
        self.window = window
        self.max_failures_per_session = max_failures_per_session
        self.failures: FailureCounter = failures if failures is not None else MemoryFailures()
        self._lock = threading.Lock()
        self._sessions: dict[str, int] = defaultdict(int)

    def blocked(self, *keys: str) -> bool:
        return self.failures.most(keys, self.clock.now() - self.window) >= self.max_failures

    def tracked(self) -> int:
        """How many keys have failures in the window (bounded memory)."""
        return self.failures.tracked(self.clock.now() - self.window)

    def failed(self, *keys: str) -> None:
        now = self.clock.now()
        self.failures.add(keys, now, now - self.window)

    def open_session(self, client_id: str) -> bool:
        with self._lock:
            if self._sessions[client_id] >= self.max_sessions:
                return False
            self._sessions[client_id] += 1
            return True

    def close_session(self, client_id: str) -> None:
        with self._lock:
            self._sessions[client_id] = max(0, self._sessions[client_id] - 1)

    def close(self) -> None:
        """Release the failure counter's resources (its database connections)."""
        close = getattr(self.failures, "close", None)
        if close is not None:
            close()

    def sessions(self, client_id: str) -> int:
        with self._lock:
            return self._sessions[client_id]


def login(
    session: Session,
    tx: Tx,
    cmd: Command,
    conn: Peer,
    gate: Gate,
    failures: list[tuple[str, ...]],
) -> LoginResult:
    """Authenticate and open a session slot; raises the EPP or registry error otherwise.

    A failure's keys are appended to ``failures``, for the caller to count with
    ``gate.failed`` once the login's transaction is over (the counter may be in the same
    database, and on SQLite the login's write transaction would block its write)."""
    element = cmd.object_element
    client_id = text_of(element.find(q(EPP, "clID")))
    password = (element.findtext(q(EPP, "pw")) or "").strip()
    new_password_element = element.find(q(EPP, "newPW"))
    new_password = text_of(new_password_element) if new_password_element is not None else None
    lang = text_of(element.find(f"{q(EPP, 'options')}/{q(EPP, 'lang')}"))
    if lang != "en":
        raise UnimplementedOption(f"language {lang!r} is not offered; use en")
    services = element.find(q(EPP, "svcs"))
    objects = (
        frozenset(text_of(e) for e in services.iterfind(q(EPP, "objURI")))
        if services is not None
        else frozenset()
    )
    extensions = frozenset(
        text_of(e)
        for e in element.iterfind(f"{q(EPP, 'svcs')}/{q(EPP, 'svcExtension')}/{q(EPP, 'extURI')}")
    )
    for uri in sorted(objects - set(OBJECT_NAMESPACES)):
        raise UnimplementedObjectService(f"object service {uri} is not offered")
    for uri in sorted(extensions - set(EXTENSION_NAMESPACES)):
        raise UnimplementedExtension(f"extension {uri} is not offered")

    host = _host(conn.peer)
    registrar = registrars.find_registrar(session, client_id)
    if registrar is not None and not registrars.address_allowed(registrar, host):
        # Not from the registrar's networks: refused unheard, counted against the address.
        failures.append((peer_key(host),))
        _log.warning("login of %r from %s refused: outside its allow-list", client_id, host)
        tx.audit("epp.login.failed", actor=client_id, peer=host, reason="address not allowed")
        conn.failed_logins += 1
        if conn.failed_logins >= gate.max_failures_per_session:
            raise AuthenticationErrorClosing(f"{conn.failed_logins} failed logins in this session")
        raise AuthenticationFailed("authentication failed")
    pinned = bool(
        registrar is not None
        and registrar.cert_fingerprint
        and registrar.cert_fingerprint == conn.cert_fingerprint
    )
    keys = (pair_key(client_id, host), peer_key(host))
    if not pinned and gate.blocked(*keys):
        _log.warning("login of %r from %s refused: too many failed logins", client_id, host)
        tx.audit("epp.login.throttled", actor=client_id, peer=host)
        raise AuthenticationErrorClosing("too many failed logins; try again later")
    try:
        actor = registrars.authenticate(
            session, tx, client_id, password, conn.cert_fingerprint, new_password=new_password
        )
    except AuthenticationFailed:
        failures.append(keys)
        conn.failed_logins += 1
        _log.warning("failed login of %r from %s", client_id, host)
        if conn.failed_logins >= gate.max_failures_per_session:
            raise AuthenticationErrorClosing(
                f"{conn.failed_logins} failed logins in this session"
            ) from None
        raise
    if not gate.open_session(client_id):
        raise SessionLimitExceeded(
            f"registrar {client_id} already has {gate.max_sessions} sessions open"
        )
    return LoginResult(actor, objects, extensions)


def pair_key(client_id: str, host: str) -> str:
    """The failure key of one client id from one address."""
    return f"pair:{client_id[:16]}@{host}"


def peer_key(host: str) -> str:
    """The failure key of one address, whatever client ids it tries."""
    return f"peer:{host}"


def _host(peer: str) -> str:
    """The address part of "host:port" or "[v6]:port"."""
    if peer.startswith("["):
        return peer[1:].split("]", 1)[0]
    return peer.rsplit(":", 1)[0] if peer.count(":") == 1 else peer
