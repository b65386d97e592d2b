"""The one place an exception becomes what the operator sees: a line naming what failed,
where, and the next step, with the exit code of docs/operations.md.

``TldsecError`` already says all of that; foreign exceptions that reach the command line
(a file the OS refuses, a database that went away mid-command) are described here, and
anything else is called what it is, a bug, with the way to its traceback (``-v``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from tldsec.errors import ExitCode, KeyStoreLoginError, KeyStoreUnavailable, TldsecError


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed command as the operator sees it."""

    message: str  # one line
    exit_code: int
    kind: str  # the exception's class name
    unexpected: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": False,
            "outcome": "failed",
            "error": self.message,
            "kind": self.kind,
            "exit_code": self.exit_code,
        }


def one_line(text: str) -> str:
    """``text`` with its line breaks and runs of blanks made single spaces."""
    return " ".join(text.split())


def describe_failure(exc: BaseException, args: argparse.Namespace) -> Failure:
    """What to print for ``exc``, raised by the command ``args`` ran."""
    kind = type(exc).__name__
    if isinstance(exc, TldsecError):
        return Failure(one_line(str(exc)) + _keystore_hint(exc, args), int(exc.exit_code), kind)
    if isinstance(exc, OSError):
        return Failure(_os_error(exc), int(ExitCode.FAILED), kind)
    if type(exc).__module__.startswith("sqlalchemy."):
        return Failure(_database_error(exc, args), int(ExitCode.FAILED), kind)
    return Failure(
        f"unexpected {kind}: {one_line(str(exc))} (a bug in tldsec: run the command again "
        "with -v for the traceback and report it)",
        int(ExitCode.FAILED),
        kind,
        unexpected=True,
    )


def _keystore_hint(exc: TldsecError, args: argparse.Namespace) -> str:
    """Where the key store's settings are, for an HSM that cannot be opened or logged in."""
    settings = getattr(args, "loaded_settings", None)
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, KeyStoreUnavailable | KeyStoreLoginError):
        cause = cause.__cause__  # an audit or key error raised from the key store's
    if settings is None or cause is None:
        return ""
    keys = "pin_source" if isinstance(cause, KeyStoreLoginError) else "module and token_label"
    return f"; check [keystore] {keys} in {settings.source} (docs/hsm.md)"


def _os_error(exc: OSError) -> str:
    what = exc.strerror or one_line(str(exc))
    where = exc.filename if exc.filename is not None else "a file"
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    return (
        f"{where}: {what}: check that the path exists and that this user may read or "
        "write it, then run the command again"
    )


def _database_error(exc: BaseException, args: argparse.Namespace) -> str:
    """A database failure after the start checks passed (the server went away, a
    permission is missing): the driver's words and the home's URL it most likely concerns."""
    from tldsec.cli.common import database_key, redacted

    reason = one_line(str(getattr(exc, "orig", None) or exc).split("[SQL:", 1)[0])
    settings = getattr(args, "loaded_settings", None)
    where = ""
    if settings is not None:
        from sqlalchemy.engine import make_url

        named = []
        for name, url in settings.database_urls().items():
            parsed = make_url(url)
            hit = parsed.database and parsed.database in reason
            if parsed.host and f'"{parsed.host}"' in reason:
                hit = hit or f"port {parsed.port or 5432}" in reason
            if hit:
                named.append(
                    f"the {name} database {redacted(url)} ({database_key(settings, name)})"
                )
        if not named:
            named = [f"{name} {redacted(url)}" for name, url in settings.database_urls().items()]
            where = f" (the home's databases: {', '.join(named)})"
        else:
            where = f" in {' or '.join(named)}"
    return (
        f"a database operation failed{where}: {reason}; check that the database server "
        "is running and the role may do this (docs/operations.md), then run the command again"
    )
