"""The activation socket: how a Security Officer's PIN reaches ``tldsec serve``.

``tldsec serve`` listens on a Unix socket in the home's run directory (``HOME/run/
hsm.sock``: the directory mode 0700, the socket 0600, both the service account's), and
``tldsec hsm activate|deactivate|status|check`` talk to it: one JSON request line, one
JSON answer line. The PIN travels only over this socket, from the officer's terminal
(or their own file) into the serving process's memory (DPS 4.2.4, 5.2.8): never a
command line, the environment or a file of the home. The server also checks the peer's
user id (SO_PEERCRED) and records it with every activation and refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tldsec.errors import ConfigError, KeyStoreError, TldsecError
from tldsec.hsm.activation import Token
from tldsec.hsm.base import KeyStoreSpec
from tldsec.policy import SECURITY_OFFICER
from tldsec.settings import PRIMARY, Settings

RUN_DIR = "run"
SOCKET_NAME = "hsm.sock"
MAX_REQUEST = 64 * 1024


@dataclass(frozen=True, slots=True)
class Peer:
    """Who is on the other end of the socket (SO_PEERCRED)."""

    pid: int
    uid: int
    gid: int

    def as_json(self) -> dict[str, int]:
        return {"pid": self.pid, "uid": self.uid, "gid": self.gid}


Handler = Callable[[dict[str, Any], Peer], Awaitable[dict[str, Any]]]


def socket_path(home: Path) -> Path:
    return home / RUN_DIR / SOCKET_NAME


def tokens_of(settings: Settings) -> list[Token]:
    """The HSM tokens the service logs in to: the ``[keystore]`` token and each replica.
    A stored PIN is read now; a PIN the Security Officer holds is left out."""
    ks = settings.keystore
    if ks.backend != "pkcs11":
        return []
    if ks.backend not in settings.policy.allowed_backends:
        raise ConfigError(f"key store backend {ks.backend!r} is not allowed by the policy")
    wanted = [(PRIMARY, ks.module, ks.token_label or "", ks.pin_source, ks.softhsm2_conf)]
    wanted.extend(
        (r.token_name, r.module, r.token_label, r.pin_source, r.softhsm2_conf) for r in ks.replicas
    )
    tokens = []
    for name, module, label, source, conf in wanted:
        officer = source == SECURITY_OFFICER
        pin = None if officer else settings.token_pin(name, source, label)
        spec = KeyStoreSpec("pkcs11", module=module, token_label=label, pin=pin, softhsm2_conf=conf)
        tokens.append(Token(name, spec, officer))
    return tokens


async def start_server(path: Path, handler: Handler) -> asyncio.Server:
    """Listen on ``path`` (mode 0600 in a 0700 directory); refuse if a server answers."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    if path.exists() or path.is_symlink():
        if _answers(path):
            raise ConfigError(f"{path}: another tldsec serve is running on this home")
        path.unlink()

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            peer = _peer(writer)
            async with asyncio.timeout(300):  # a person types PINs at the other end
                line = await reader.readline()
            answer = await _answer(line, peer, handler)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    old = os.umask(0o177)  # the socket is born 0600: no window in which others connect
    try:
        with _short(path) as address:
            server = await asyncio.start_unix_server(serve_one, path=address, limit=MAX_REQUEST)
    finally:
        os.umask(old)
    path.chmod(0o600)
    return server


@contextlib.contextmanager
def _short(path: Path) -> Iterator[str]:
    """An address for ``path`` that fits sun_path (108 octets): the path itself, or the
    same file through ``/proc/self/fd`` of its directory (Linux) when it is longer."""
    if len(os.fsencode(path)) < 100:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


async def _answer(line: bytes, peer: Peer, handler: Handler) -> dict[str, Any]:
    if peer.uid not in (os.getuid(), 0):
        return {"ok": False, "error": f"user id {peer.uid} may not use this socket"}
    try:
        request = json.loads(line)
    except ValueError:
        request = None
    if not isinstance(request, dict) or not isinstance(request.get("op"), str):
        return {"ok": False, "error": 'not a request: one JSON line {"op": ...}'}
    try:
        return await handler(request, peer)
    except TldsecError as exc:
        return {"ok": False, "error": str(exc)}


def _peer(writer: asyncio.StreamWriter) -> Peer:
    sock = writer.get_extra_info("socket")
    fmt = "3i"
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize(fmt))
    pid, uid, gid = struct.unpack(fmt, raw)
    return Peer(pid, uid, gid)


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock, _short(path) as address:
        try:
            sock.connect(address)
        except OSError:
            return False
    return True


def request(home: Path, message: dict[str, Any], *, timeout: float = 600.0) -> dict[str, Any]:
    """Send one request to the ``tldsec serve`` of ``home``; its answer."""
    path = socket_path(home)
    if not path.parent.is_dir():
        raise KeyStoreError(
            f"no tldsec serve is listening on {path}: start 'tldsec serve --home {home}' "
            "first (activation reaches the running service only)"
        )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock, _short(path) as address:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise KeyStoreError(
                f"no tldsec serve is listening on {path}: start 'tldsec serve --home {home}' "
                "first (activation reaches the running service only)"
            ) from exc
        except PermissionError as exc:
            raise KeyStoreError(
                f"{path} belongs to the service account: run this as that user "
                "(e.g. sudo -u tldsec ...)"
            ) from exc
        sock.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    try:
        answer = json.loads(data)
    except ValueError as exc:
        raise KeyStoreError(f"tldsec serve gave no answer on {path}") from exc
    if not isinstance(answer, dict):
        raise KeyStoreError(f"tldsec serve gave no answer on {path}")
    return answer
