"""The one place where PKCS#11 errors become tldsec errors.

python-pkcs11 raises a class per CKR_* return value, mostly without a message. Every call
into the module goes through ``pkcs11_errors`` (or ``translate``), which names the module,
token or key the operator has to look at; the original stays chained as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pkcs11.exceptions as p11

from tldsec.errors import (
    KeyNotFound,
    KeyStoreError,
    KeyStoreLoginError,
    KeyStoreUnavailable,
    SigningFailed,
)


@dataclass(frozen=True, slots=True)
class Where:
    """What an operation was working on, for the message."""

    op: str  # "load", "open", "login", "find", "generate", "import", "sign", "close", ...
    module: str
    token: str | None = None
    key_id: str | None = None


_LOGIN_PROBLEMS: dict[type[p11.PKCS11Error], str] = {
    p11.PinIncorrect: "wrong PIN for token '{token}'",
    p11.PinLocked: (
        "the user PIN of token '{token}' is locked after too many wrong PINs: "
        "the security officer must unlock it (softhsm2-util: re-initialise the PIN)"
    ),
    p11.PinExpired: "the user PIN of token '{token}' has expired: set a new one",
    p11.PinInvalid: "the PIN for token '{token}' has characters the token refuses",
    p11.PinLenRange: "the PIN for token '{token}' is too short or too long for the token",
    p11.UserPinNotInitialized: "token '{token}' has no user PIN: initialise it first",
    p11.UserTooManyTypes: "token '{token}' has another user type logged in",
}
_GONE: tuple[type[p11.PKCS11Error], ...] = (
    p11.TokenNotPresent,
    p11.TokenNotRecognised,
    p11.DeviceRemoved,
    p11.SlotIDInvalid,
)
_NO_KEY: tuple[type[p11.PKCS11Error], ...] = (
    p11.NoSuchKey,
    p11.KeyHandleInvalid,
    p11.ObjectHandleInvalid,
)


def describe(exc: p11.PKCS11Error) -> str:
    """The PKCS#11 error's name and message, e.g. ``DeviceError (CKR_DEVICE_ERROR)``."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def translate(exc: p11.PKCS11Error, where: Where) -> KeyStoreError:
    """The tldsec error for a PKCS#11 error raised while doing ``where.op``."""
    token = where.token or "?"
    login_problem = _LOGIN_PROBLEMS.get(type(exc))
    if login_problem is not None:
        return KeyStoreLoginError(login_problem.format(token=token))
    if isinstance(exc, p11.NoSuchToken):
        return KeyStoreUnavailable(f"no token labelled '{token}' in PKCS#11 module {where.module}")
    if isinstance(exc, _GONE):
        return KeyStoreUnavailable(
            f"token '{token}' in PKCS#11 module {where.module} is not available ({describe(exc)})"
        )
    if where.key_id is not None and isinstance(exc, _NO_KEY):
        return KeyNotFound(f"no key with id {where.key_id} in token '{token}'")
    if where.op == "load":
        return KeyStoreUnavailable(f"cannot load PKCS#11 module {where.module}: {describe(exc)}")
    if where.op == "sign":
        return SigningFailed(
            f"token '{token}' failed to sign with key {where.key_id}: {describe(exc)}"
        )
    subject = f"key {where.key_id} in token '{token}'" if where.key_id else f"token '{token}'"
    return KeyStoreError(f"{where.op} failed for {subject}: {describe(exc)}")


@contextmanager
def pkcs11_errors(where: Where) -> Iterator[None]:
    """Run a block of PKCS#11 calls; re-raise their errors as tldsec errors."""
    try:
        yield
    except p11.PKCS11Error as exc:
        raise translate(exc, where) from exc
