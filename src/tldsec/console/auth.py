"""The console login: the registrar's EPP client id and password, plus the person's TOTP.

Failed logins are counted by the EPP server's gate on the same keys and in the same
table (``login_failure``: one client id from one address, and one address), so five
failures at EPP and console together lock that pair or address out of both for the
window, and failures from elsewhere never lock a registrar out of its own address
(issue 18). The answer to every failure is the same sentence; the audit log says which
part was wrong (DPS 5.5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher

from tldsec.clock import Clock
from tldsec.console.totp import TotpKey, accept_code, find_user
from tldsec.epp.login import Gate, pair_key, peer_key
from tldsec.registry import registrars
from tldsec.registry.audit import AuditRecorder
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.passwords import verify

REFUSED = "Login failed: wrong client ID, user, password or code."
THROTTLED = "Too many failed logins from this address; try again in a few minutes."
_ACTOR_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class LoginRefused(Exception):
    """The login is refused; the message is what the person sees."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who logged in."""

    client_id: str
    registrar_id: int
    user: str


@dataclass(frozen=True, slots=True)
class LoginService:
    db: RegistryDatabase
    gate: Gate
    hasher: PasswordHasher
    key: TotpKey
    clock: Clock
    audit: AuditRecorder

    def log_in(self, client_id: str, user: str, password: str, code: str, source: str) -> Identity:
        """The identity, or ``LoginRefused``; a failure is counted against
        (client id, source) and the source, as EPP counts its own."""
        client_id, user = client_id.strip(), user.strip().lower()
        actor = _actor(client_id, user)
        keys = (pair_key(client_id, source), peer_key(source))
        if self.gate.blocked(*keys):
            self.audit("console.login.throttled", actor=actor, peer=source)
            raise LoginRefused(THROTTLED)
        failure: str | None = None
        identity: Identity | None = None
        with self.db.write() as session:
            registrar = registrars.find_registrar(session, client_id)
            if registrar is None or not registrar.enabled:
                self.hasher.hash(password)  # as long for unknown ids as for wrong passwords
                failure = "unknown or disabled client id"
            elif not verify(self.hasher, registrar.password_hash, password):
                failure = "wrong password"
            else:
                person = find_user(session, registrar.id, user)
                if person is None:
                    failure = "no such console user"
                elif not accept_code(self.key, person, code, self.clock.now()):
                    failure = "wrong or reused TOTP code"
                else:
                    identity = Identity(registrar.client_id, registrar.id, user)
        if identity is None:
            # Counted after the login's transaction (on SQLite it would block this write).
            self.gate.failed(*keys)
            self.audit("console.login.failed", actor=actor, peer=source, reason=failure)
            raise LoginRefused(REFUSED)
        self.audit("console.login", actor=actor, peer=source)
        return identity


def _actor(client_id: str, user: str) -> str:
    """``registrar:ID/user`` when both parts are printable names, else the console."""
    if _ACTOR_SAFE.fullmatch(client_id) and _ACTOR_SAFE.fullmatch(user):
        return f"registrar:{client_id}/{user}"
    return "component:console"
