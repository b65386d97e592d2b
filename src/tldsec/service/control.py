"""The token that authorises control requests on ``tldsec serve``'s health port
(``POST /cycle``): anyone who can reach the port may read ``GET /health``, only a holder
of the token may make the registry act (issue 22, item 3).

The token is 32 random bytes, hex, in ``HOME/control-token`` (0600, the home's owner
only), made on the first start; a client sends ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from tldsec.atomicfile import replacing
from tldsec.errors import ConfigError

TOKEN_FILE = "control-token"
TOKEN_MODE = 0o600


def control_token(home: Path) -> str:
    """The home's control token, made (0600) if there is none yet. A token file that
    others may read is refused: whoever reads it can start cycles."""
    path = home / TOKEN_FILE
    if not path.exists():
        with replacing(path, "w", encoding="ascii", permissions=TOKEN_MODE) as out:
            out.write(secrets.token_hex(32) + "\n")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(
            f"{path} is readable by others (mode {mode:o}): run 'chmod 600 {path}', or "
            "delete it for a new token"
        )
    token = path.read_text("ascii").strip()
    if len(token) < 32:
        raise ConfigError(f"{path} holds no token: delete it and restart for a new one")
    return token


def authorised(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer`` with ``token``."""
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def token_path(home: Path) -> str:
    return os.fspath(home / TOKEN_FILE)
