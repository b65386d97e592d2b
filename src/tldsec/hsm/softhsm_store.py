"""What SoftHSM2's file object store on disk says about its tokens.

SoftHSM2's file backend (the only one Debian's build has) rewrites a token's
``token.object`` in place at every login. A process killed during that write leaves the
file empty, and the token then reads as uninitialised, without its label: all PKCS#11
shows is that the token is gone. ``damaged_tokens`` finds such token directories, so
the error can name the real problem and its remedy.
"""

from __future__ import annotations

from pathlib import Path

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
