"""The ``[push]`` and ``[lease]`` tables, checked: certificate files that exist and match
their pinned fingerprints, addresses that parse (decision 49).

    [push]
    cert = "push/site-a.pem"          # this side's certificate and key (tldsec push-cert new)
    key = "push/site-a.key"
    listen = "0.0.0.0:5301"           # the primary role: where signers push
    max_connections = 16              # the primary role: pushes at once, in all,
    max_connections_per_address = 4   # ... and from one address
    handshake_seconds = 10            # ... from the connection to its header line

    [[push.primaries]]                # the signer role: where it pushes
    name = "primary-1"
    address = "192.0.2.10:5301"
    cert = "push/primary-1.pem"
    sha256 = "3f1c...e9"              # tldsec push-cert show push/primary-1.pem

    [[push.signers]]                  # the primary role: the signers it accepts
    name = "site-a"
    cert = "push/site-a.pem"
    sha256 = "9a0b...71"
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tldsec.distribute.config import parse_hostport
from tldsec.distribute.pushcert import fingerprint, normalise_fingerprint
from tldsec.errors import ConfigError
from tldsec.settings import Settings
from tldsec.settings.tables import PushPeerTable


@dataclass(frozen=True, slots=True)
class PushPeer:
    """A pinned peer: its name, certificate file, fingerprint and (primaries) address."""

    name: str
    cert: Path
    sha256: str
    address: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class PushSettings:
    cert: Path
    key: Path
    listen: tuple[str, int]
    timeout: float
    retry: float
    max_zone_bytes: int
    primaries: tuple[PushPeer, ...]
    signers: tuple[PushPeer, ...]
    max_connections: int = 16
    max_connections_per_address: int = 4
    handshake: float = 10.0  # from the connection to its header line, TLS included

    def identity_exists(self) -> bool:
        return self.cert.exists() and self.key.exists()


def load_push_settings(settings: Settings) -> PushSettings:
    """The ``[push]`` table of the settings; each pinned certificate is read and must
    have the fingerprint written beside it."""
    table, home = settings.config.push, settings.home
    primaries = tuple(_peer(p, home, "push.primaries", address=True) for p in table.primaries)
    signers = tuple(_peer(p, home, "push.signers", address=False) for p in table.signers)
    for kind, peers in (("primaries", primaries), ("signers", signers)):
        names = [p.name for p in peers]
        if len(set(names)) != len(names):
            raise ConfigError(f"[[push.{kind}]]: each name may appear once ({', '.join(names)})")
    return PushSettings(
        cert=_path(table.cert, home),
        key=_path(table.key, home),
        listen=parse_hostport(table.listen, 5301),
        timeout=table.timeout_seconds,
        retry=table.retry_seconds,
        max_zone_bytes=table.max_zone_bytes,
        primaries=primaries,
        signers=signers,
        max_connections=table.max_connections,
        max_connections_per_address=table.max_connections_per_address,
        handshake=table.handshake_seconds,
    )


def _peer(table: PushPeerTable, home: Path, where: str, *, address: bool) -> PushPeer:
    label = f"[[{where}]] {table.name!r}"
    pinned = normalise_fingerprint(table.sha256)
    cert = _path(table.cert, home)
    actual = fingerprint(cert)
    if actual != pinned:
        raise ConfigError(
            f"{label}: {cert} has the fingerprint {actual}, not the pinned sha256 {pinned}: "
            "compare it with the peer's 'tldsec push-cert show' before changing either"
        )
    hostport: tuple[str, int] | None = None
    if address:
        if not table.address:
            raise ConfigError(f'{label} needs address = "HOST:PORT" (its push listener)')
        hostport = parse_hostport(table.address, 5301)
    elif table.address:
        raise ConfigError(f"{label}: a signer has no address (it connects out, never in)")
    return PushPeer(table.name, cert, pinned, hostport)


def _path(value: str, home: Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else home / path
