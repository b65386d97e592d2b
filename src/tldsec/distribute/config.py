"""The ``[distribute]`` table of ``tldsec.toml``: the hidden primary, its secondaries, TSIG.

    [distribute]
    listen = "127.0.0.1:5300"        # the hidden primary (UDP and TCP)
    store_dir = "zones/{zone}/dist"  # each zone's signed zones by serial, IXFR differences
                                     # ({zone}: the origin without its dot; without
                                     # {zone}, one directory, for a home of one zone)
    keep = 10                        # serials kept (zone files and differences)
    poll_seconds = 1                 # how often the primary looks for a new serial
    notify_timeout_seconds = 2       # wait for a NOTIFY answer (RFC 1996 3.6)
    notify_attempts = 5              # tries per secondary and serial
    notify_retry_seconds = 2         # first pause between tries, doubled each time

    [[distribute.secondaries]]
    name = "ns1"
    allow = ["192.0.2.1", "2001:db8::/64"]    # source addresses allowed to transfer
    notify = ["192.0.2.1:53"]                 # where NOTIFY goes (RFC 1996)
    tsig_key = "ns1"                          # transfers must be signed with it (RFC 8945)
    zones = ["example."]                      # the zones it may transfer (default: all)

    [distribute.tsig_keys.ns1]
    algorithm = "hmac-sha256"
    secret_file = "tsig/ns1.key"              # or secret = "base64..."

Without a ``[distribute]`` table (the embedded default) the primary listens on
127.0.0.1:5300 and allows transfers from 127.0.0.1 and ::1 without TSIG, with nobody
to notify.

A home of several zones (decision 63) gives each zone its own secondaries by their
``zones``: a secondary is allowed, notified and held to its TSIG key for those zones
only, so each zone's ACL and key are those of the secondaries that name it. A name in
``zones`` that is not one of the home's zones is refused when the settings are read.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.name
import dns.tsig

from tldsec.errors import ConfigError
from tldsec.settings import Settings
from tldsec.settings.strict import read_table
from tldsec.settings.tables import DistributeTable, SecondaryTable, TsigKeyTable
from tldsec.zonehome import zone_dir_name

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# RFC 8945 6: HMAC-SHA256 is mandatory to implement; SHA-1 and MD5 are not offered.
TSIG_ALGORITHMS: dict[str, dns.name.Name] = {
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}
DEFAULT_LISTEN = "127.0.0.1:5300"
LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


@dataclass(frozen=True, slots=True)
class TsigKey:
    """A shared TSIG secret (RFC 8945 4): its name, HMAC algorithm and secret."""

    name: str
    algorithm: str
    secret: bytes

    def __post_init__(self) -> None:
        if self.algorithm not in TSIG_ALGORITHMS:
            raise ValueError(
                f"TSIG key {self.name}: algorithm {self.algorithm!r} is not one of "
                f"{', '.join(TSIG_ALGORITHMS)}"
            )
        if len(self.secret) < 16:
            raise ValueError(f"TSIG key {self.name}: the secret is shorter than 16 bytes")

    def dns_key(self) -> dns.tsig.Key:
        return dns.tsig.Key(self.dns_name(), self.secret, TSIG_ALGORITHMS[self.algorithm])

    def dns_name(self) -> dns.name.Name:
        return dns.name.from_text(self.name)

    @property
    def secret_b64(self) -> str:
        return base64.b64encode(self.secret).decode("ascii")


@dataclass(frozen=True, slots=True)
class Secondary:
    """A name server that takes the zone from the primary."""

    name: str
    allow: tuple[Network, ...]
    notify: tuple[tuple[str, int], ...] = ()
    tsig_key: str | None = None
    zones: frozenset[str] | None = None  # origins (lower case, final dot); None: all

    def serves(self, origin: str) -> bool:
        """Whether this secondary takes ``origin`` (every zone without ``zones``)."""
        return self.zones is None or _origin(origin) in self.zones

    def allows(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.allow)


# The embedded default: transfers from loopback without TSIG, nobody to notify.
DEFAULT_SECONDARIES = (Secondary("loopback", LOOPBACK),)


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """How NOTIFY is retried (RFC 1996 3.6: until answered, or a limit is reached)."""

    timeout: float = 2.0
    attempts: int = 5
    retry: float = 2.0

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.attempts < 1 or self.retry < 0:
            raise ValueError("NOTIFY timeout and attempts must be positive")


@dataclass(frozen=True, slots=True)
class DistributeSettings:
    """Everything the distribution side needs: where it serves, keeps zones, who may ask."""

    store_dir: Path
    listen: str = DEFAULT_LISTEN
    keep: int = 10
    poll_seconds: float = 1.0
    secondaries: tuple[Secondary, ...] = DEFAULT_SECONDARIES
    tsig_keys: tuple[TsigKey, ...] = ()
    notify: NotifySettings = NotifySettings()
    origins: tuple[str, ...] | None = None  # the home's zones, when read from its settings

    def store_for(self, origin: str) -> Path:
        """The zone's store: ``store_dir`` with ``{zone}`` replaced by the zone's
        directory name (``zones/{zone}/dist`` -> ``zones/example/dist``, decision 57's
        layout); without ``{zone}``, ``store_dir`` itself, which only a home of one zone
        may use (two zones in one store would share one serial and one fence)."""
        text = str(self.store_dir)
        if "{zone}" in text:
            return Path(text.replace("{zone}", zone_dir_name(origin)))
        if self.origins is not None and len(self.origins) > 1:
            raise ConfigError(
                f'[distribute] store_dir = "{text}" is one directory for the zones '
                f"{', '.join(self.origins)}: each zone needs its own store; write "
                'store_dir = "zones/{zone}/dist"'
            )
        return self.store_dir

    def key(self, name: str) -> TsigKey:
        for k in self.tsig_keys:
            if k.name == name:
                return k
        raise ConfigError(f"[distribute] no TSIG key named {name!r}")


def parse_hostport(value: str, default_port: int = 53) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[V6]:PORT`` or a bare IPv6 address."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":") or str(default_port)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, str(default_port)
    if not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"{value!r}: use HOST:PORT (or [IPv6]:PORT)")
    return host, int(port_text)


def load_distribute_settings(settings: Settings) -> DistributeSettings:
    """The ``[distribute]`` table of the settings (the embedded defaults without one);
    the secondaries' ``zones`` are checked against the home's zones: every zone of its
    file, also where the settings are narrowed to one (``Settings.for_zone``)."""
    return distribute_from_table(settings.config.distribute, settings.home, home_origins(settings))


def home_origins(settings: Settings) -> tuple[str, ...]:
    """Every zone the home's file names (``[zone] origin`` or each ``[zones.NAME]``),
    whichever zone ``settings`` are narrowed to."""
    config = settings.config
    if config.zone is not None:
        return (_origin(config.zone.origin),)
    return tuple(_origin(name) for name in config.zones) or tuple(settings.zones)


def distribute_from_dict(
    table: dict[str, Any], home: Path, *, source: str, origins: Iterable[str] | None = None
) -> DistributeSettings:
    """Check a parsed ``[distribute]`` table and convert it."""
    return distribute_from_table(
        read_table(DistributeTable, table, table="distribute", source=source), home, origins
    )


def distribute_from_table(
    table: DistributeTable, home: Path, origins: Iterable[str] | None = None
) -> DistributeSettings:
    """Convert a checked ``[distribute]`` table: addresses, networks and TSIG secrets.
    With ``origins`` (the home's zones), a secondary's ``zones`` must be among them."""
    parse_hostport(table.listen)
    keys = _tsig_keys(table.tsig_keys, home)
    known = None if origins is None else tuple(_origin(o) for o in origins)
    secondaries = (
        _secondaries(table.secondaries, {k.name for k in keys}, known)
        if table.secondaries is not None
        else DEFAULT_SECONDARIES
    )
    try:
        notify = NotifySettings(
            timeout=table.notify_timeout_seconds,
            attempts=table.notify_attempts,
            retry=table.notify_retry_seconds,
        )
    except ValueError as exc:
        raise ConfigError(f"[distribute] {exc}") from exc
    store_path = Path(table.store_dir)
    return DistributeSettings(
        store_dir=store_path if store_path.is_absolute() else home / store_path,
        listen=table.listen,
        keep=table.keep,
        poll_seconds=table.poll_seconds,
        secondaries=secondaries,
        tsig_keys=keys,
        notify=notify,
        origins=known,
    )


def _tsig_keys(raw: dict[str, TsigKeyTable], home: Path) -> tuple[TsigKey, ...]:
    keys: list[TsigKey] = []
    for name, spec in sorted(raw.items()):
        where = f"[distribute.tsig_keys.{name}]"
        text = spec.secret
        if spec.secret_file is not None:
            path = Path(spec.secret_file)
            path = path if path.is_absolute() else home / path
            try:
                text = path.read_text("utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{where} cannot read {path}: {exc.strerror}") from exc
        if not text:
            raise ConfigError(f"{where} needs secret (base64) or secret_file")
        try:
            secret = base64.b64decode(text, validate=True)
            keys.append(TsigKey(name, spec.algorithm, secret))
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    return tuple(keys)


def _origin(name: str) -> str:
    """``Example`` -> ``example.``: a zone's origin as the secondaries' ``zones`` hold it."""
    return name.strip().lower().rstrip(".") + "."


def _secondaries(
    raw: tuple[SecondaryTable, ...], key_names: set[str], known: tuple[str, ...] | None
) -> tuple[Secondary, ...]:
    out: list[Secondary] = []
    for i, spec in enumerate(raw):
        where = f"[[distribute.secondaries]] #{i + 1}" + (f" ({spec.name})" if spec.name else "")
        try:
            networks = tuple(ipaddress.ip_network(a, strict=False) for a in spec.allow)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        if spec.tsig_key is not None and spec.tsig_key not in key_names:
            raise ConfigError(
                f"{where}: tsig_key {spec.tsig_key!r} is not in [distribute.tsig_keys]"
            )
        out.append(
            Secondary(
                name=spec.name or f"secondary-{i + 1}",
                allow=networks,
                notify=tuple(parse_hostport(n) for n in spec.notify),
                tsig_key=spec.tsig_key,
                zones=_zones(spec.zones, known, where),
            )
        )
    return tuple(out)


def _zones(
    names: tuple[str, ...] | None, known: tuple[str, ...] | None, where: str
) -> frozenset[str] | None:
    if names is None:
        return None
    if not names:
        raise ConfigError(f"{where}: zones = [] serves no zone; name its zones or leave it out")
    zones = frozenset(_origin(n) for n in names)
    if known is not None:
        unknown = sorted(zones.difference(known))
        if unknown:
            raise ConfigError(
                f"{where}: zones names {', '.join(unknown)}, not a zone of this home "
                f"(it serves {', '.join(known)})"
            )
    return zones
