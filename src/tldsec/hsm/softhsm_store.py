"""What SoftHSM2's file object store on disk says about its tokens.

SoftHSM2's file backend (the only one Debian's build has) rewrites a token's
``token.object`` in place at every login. A process killed during that write leaves the
file empty, and the token then reads as uninitialised, without its label: all PKCS#11
shows is that the token is gone. ``damaged_tokens`` finds such token directories, so
the error can name the real problem and its remedy (``damage_note``); ``softhsm_hint``
names a token directory that is missing or unreadable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tldsec.errors import KeyStoreUnavailable

TOKEN_RECORD = "token.object"


def token_directory(conf: Path) -> Path | None:
    """``directories.tokendir`` of a SoftHSM2 configuration file, if it says."""
    try:
        lines = conf.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "directories.tokendir":
            return Path(value.strip())
    return None


def damaged_tokens(conf: Path) -> list[Path]:
    """Token directories whose ``token.object`` is missing or empty."""
    tokens = token_directory(conf)
    if tokens is None or not tokens.is_dir():
        return []
    damaged = []
    for directory in sorted(p for p in tokens.iterdir() if p.is_dir()):
        record = directory / TOKEN_RECORD
        try:
            if record.stat().st_size == 0:
                damaged.append(directory)
        except FileNotFoundError:
            damaged.append(directory)
        except OSError:
            continue  # unreadable: not ours to judge
    return damaged


def damage_note(conf: str | None, notes: list[str] | None = None) -> str:
    """Why a SoftHSM2 token may have vanished, for the end of its error, or nothing;
    ``notes`` say what became of its good copy (``softhsm_record``)."""
    if conf is None:
        return ""
    damaged = damaged_tokens(Path(conf))
    if not damaged:
        return ""
    where = ", ".join(str(d) for d in damaged)
    return (
        f"; SoftHSM2 token directory {where} has an empty or missing {TOKEN_RECORD}: a "
        "process was killed while SoftHSM2 rewrote it (it does at every login), so the "
        "token reads as uninitialised. Its keys cannot be used without that file"
        + "".join(f"; {note}" for note in notes or [])
        + ": restore the token directory from your backup (docs/hsm.md)"
    )


@contextmanager
def softhsm_hint(conf: str | None) -> Iterator[None]:
    """A module that fails to initialise because SoftHSM2's token directory is missing
    or unreadable (the usual SoftHSM2 outage: a volume not mounted, a directory moved
    or its permissions changed) says so, with the directory and the configuration."""
    try:
        yield
    except KeyStoreUnavailable as exc:
        where = token_directory(Path(conf)) if conf is not None else None
        if where is None:
            raise
        if not where.is_dir():
            problem = "is missing"
        elif not os.access(where, os.R_OK | os.W_OK | os.X_OK):
            problem = "is not readable and writable by this process"
        else:
            raise
        raise KeyStoreUnavailable(
            f"{exc}: the SoftHSM2 token directory {where} (directories.tokendir in {conf}) "
            f"{problem}"
        ) from exc
