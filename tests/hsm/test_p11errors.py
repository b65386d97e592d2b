"""PKCS#11 errors become tldsec errors that name what the operator must look at.

The exceptions are python-pkcs11's own classes, as the module raises them; errors that
SoftHSM2 cannot be made to produce (a locked PIN, a failing device) are checked here.
"""

from __future__ import annotations

import re

import pkcs11.exceptions as p11
import pytest

from tldsec.errors import (
    KeyNotFound,
    KeyStoreError,
    KeyStoreLoginError,
    KeyStoreUnavailable,
    SigningFailed,
)
from tldsec.hsm.p11errors import Where, pkcs11_errors, translate

MODULE = "/usr/lib/vendor/libhsm.so"


@pytest.mark.parametrize(
    ("exc", "where", "kind", "message"),
    [
        (
            p11.PinIncorrect(),
            Where("login", MODULE, "tld"),
            KeyStoreLoginError,
            "wrong PIN for token 'tld'",
        ),
        (
            p11.PinLocked(),
            Where("login", MODULE, "tld"),
            KeyStoreLoginError,
            "the user PIN of token 'tld' is locked",
        ),
        (
            p11.UserPinNotInitialized(),
            Where("login", MODULE, "tld"),
            KeyStoreLoginError,
            "token 'tld' has no user PIN",
        ),
        (
            p11.NoSuchToken(),
            Where("open", MODULE, "tld"),
            KeyStoreUnavailable,
            f"no token labelled 'tld' in PKCS#11 module {MODULE}",
        ),
        (
            p11.DeviceRemoved(),
            Where("sign", MODULE, "tld", "ab" * 16),
            KeyStoreUnavailable,
            "token 'tld' in PKCS#11 module .* is not available \\(DeviceRemoved\\)",
        ),
        (
            p11.ObjectHandleInvalid(),
            Where("sign", MODULE, "tld", "ab" * 16),
            KeyNotFound,
            f"no key with id {'ab' * 16} in token 'tld'",
        ),
        (
            p11.DeviceError(),
            Where("sign", MODULE, "tld", "ab" * 16),
            SigningFailed,
            f"token 'tld' failed to sign with key {'ab' * 16}: DeviceError",
        ),
        (
            p11.PKCS11Error("OS exception while loading x.so"),
            Where("load", MODULE),
            KeyStoreUnavailable,
            "cannot load PKCS#11 module .*: PKCS11Error: OS exception",
        ),
        (
            p11.FunctionFailed(),
            Where("generate", MODULE, "tld"),
            KeyStoreError,
            "generate failed for token 'tld': FunctionFailed",
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None,
)
def test_translation(
    exc: p11.PKCS11Error, where: Where, kind: type[KeyStoreError], message: str
) -> None:
    translated = translate(exc, where)
    assert type(translated) is kind
    assert re.search(message, str(translated)), str(translated)
    assert "Traceback" not in str(translated)


def test_the_context_manager_chains_the_original() -> None:
    with (
        pytest.raises(SigningFailed) as caught,
        pkcs11_errors(Where("sign", MODULE, "tld", "cd" * 16)),
    ):
        raise p11.DeviceError()
    assert isinstance(caught.value.__cause__, p11.DeviceError)


def test_other_exceptions_pass_through() -> None:
    with pytest.raises(ZeroDivisionError), pkcs11_errors(Where("sign", MODULE, "tld")):
        _ = 1 / 0
