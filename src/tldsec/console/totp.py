"""TOTP for the registrar console (RFC 6238, pyotp): enrolment by the operator, the check
at login, and the key that encrypts the secrets at rest.

``tldsec registrar totp ID --user NAME`` makes a random secret for one person of a
registrar, prints its ``otpauth://`` URI once, and stores it in ``console_user``
encrypted with Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``) under the console's
key file (``[console] totp_key``, mode 0600 in the home, made at the first enrolment):
a copy of the registry database alone reveals no secret. A code is accepted for the
current 30 s step or one step either side (clock drift), and only for a step later than
the last one accepted for that person, so a code seen once cannot be replayed
(RFC 6238 5.2).
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from tldsec.atomicfile import replacing
from tldsec.errors import ConfigError, InvalidValue, ObjectNotFound
from tldsec.registry import history, registrars
from tldsec.registry.context import Tx
from tldsec.registry.models import ConsoleUser

STEP_SECONDS = 30  # RFC 6238 4.1 default X
DRIFT_STEPS = 1  # RFC 6238 5.2: one step of transmission delay / drift either side
ISSUER = "tldsec"
_USER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")


class TotpKey:
    """The Fernet key that encrypts TOTP secrets (one file, readable by the service only)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def load(cls, path: Path, *, create: bool = False) -> TotpKey:
        """The key in ``path``; with ``create`` a new one is written (0600) if none is."""
        try:
            return cls(path.read_bytes().strip())
        except FileNotFoundError:
            if not create:
                raise ConfigError(
                    f"{path}: the console's TOTP key does not exist; enrol a person first "
                    "('tldsec registrar totp ID --user NAME')"
                ) from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: not a usable console TOTP key ({exc})") from exc
        key = Fernet.generate_key()
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path, "wb", permissions=0o600) as out:
            out.write(key + b"\n")
        return cls(key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("ascii")).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise ConfigError(
                "a console TOTP secret does not open with the console's key file "
                "(a different [console] totp_key?)"
            ) from exc


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What the operator hands to the person once: the secret and its URI."""

    client_id: str
    user: str
    secret: str
    uri: str


def check_user_name(user: str) -> str:
    """A console user name: 1-64 of lower-case letters, digits, '.', '_', '-'."""
    if not 1 <= len(user) <= 64 or not _USER_CHARS.issuperset(user) or user[0] in "._-":
        raise InvalidValue(
            f"{user!r} is not a console user name (1-64 lower-case letters, digits, '.', '_', "
            "'-', starting with a letter or digit)"
        )
    return user


def enrol(session: Session, tx: Tx, key: TotpKey, client_id: str, user: str) -> Enrolment:
    """A new TOTP secret for ``user`` of registrar ``client_id`` (replacing any earlier
    one), stored sealed; recorded in the history and the audit log (never the secret)."""
    check_user_name(user)
    registrar = registrars.get_registrar(session, client_id)
    secret = pyotp.random_base32(32)  # 160 bits, RFC 4226 4 R6
    row = session.scalar(
        select(ConsoleUser).where(
            ConsoleUser.registrar_id == registrar.id, ConsoleUser.name == user
        )
    )
    if row is None:
        row = ConsoleUser(registrar_id=registrar.id, name=user)
        session.add(row)
    row.totp_secret = key.seal(secret)
    row.totp_last_step = 0
    row.enrolled_at = tx.now
    session.flush()
    history.record(session, tx, "registrar", client_id, "totp", {"user": user})
    tx.audit("registrar.totp", actor=tx.actor.client_id, registrar=client_id, user=user)
    uri = pyotp.TOTP(secret).provisioning_uri(name=f"{client_id}/{user}", issuer_name=ISSUER)
    return Enrolment(client_id, user, secret, uri)


def remove(session: Session, tx: Tx, client_id: str, user: str) -> None:
    """Revoke ``user``'s console access (a person who left): the row goes, the next
    login fails; sessions already open end at their idle timeout or logout. Audited."""
    registrar = registrars.get_registrar(session, client_id)
    row = find_user(session, registrar.id, user)
    if row is None:
        raise ObjectNotFound(f"registrar {client_id!r} has no console user {user!r}")
    session.delete(row)
    history.record(session, tx, "registrar", client_id, "totp-remove", {"user": user})
    tx.audit(
        "registrar.totp", actor=tx.actor.client_id, registrar=client_id, user=user, removed=True
    )


def find_user(session: Session, registrar_id: int, user: str) -> ConsoleUser | None:
    return session.scalar(
        select(ConsoleUser).where(
            ConsoleUser.registrar_id == registrar_id, ConsoleUser.name == user
        )
    )


def accept_code(key: TotpKey, row: ConsoleUser, code: str, now: datetime) -> bool:
    """Whether ``code`` is the person's TOTP now (one step of drift), never used before;
    on success ``row.totp_last_step`` moves to its step (the caller commits it)."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(key.open(row.totp_secret))
    step = int(now.timestamp()) // STEP_SECONDS
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if candidate <= row.totp_last_step:
            continue  # RFC 6238 5.2: a code is valid once
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            row.totp_last_step = candidate
            return True
    return False


def code_at(secret: str, when: datetime) -> str:
    """The code of ``secret`` at ``when`` (for tests and the operator's check)."""
    return pyotp.TOTP(secret).generate_otp(int(when.timestamp()) // STEP_SECONDS)


def key_path_mode(path: Path) -> int:
    """The key file's permission bits (``tldsec status`` and tests check 0600)."""
    return os.stat(path).st_mode & 0o777
