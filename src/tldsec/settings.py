"""Settings: the home directory and its ``tldsec.toml``, built once by an entry point.

A home is the one directory that holds the config, the databases, the SoftHSM2 token
(or key directory) and the zones. Entry points call ``load_settings`` and pass the
result down; nothing reads settings from a global.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tldsec.errors import ConfigError, KeyStoreLoginError
from tldsec.hsm.base import KeyStoreSpec
from tldsec.policy import Policy, load_policy

CONFIG_NAME = "tldsec.toml"
DEFAULT_HOME = Path("tldsec-home")
SOFTHSM2_MODULE_CANDIDATES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/local/lib/softhsm/libsofthsm2.so"),
)


@dataclass(frozen=True, slots=True)
class KeyStoreSettings:
    """The ``[keystore]`` table: which backend, and how to reach it."""

    backend: str
    module: Path | None
    token_label: str | None
    pin_source: str | None
    softhsm2_conf: Path | None
    directory: Path | None


@dataclass(frozen=True, slots=True)
class ApexSettings:
    """The apex the zone builder writes: ``[zone] apex_ns``, ``apex_glue``, ``soa_*``."""

    ns: tuple[str, ...]
    glue: tuple[tuple[str, str], ...]  # (name server, address) for apex NS under the TLD
    soa_mname: str
    soa_rname: str
    soa_refresh: int = 1800
    soa_retry: int = 900
    soa_expire: int = 1209600


@dataclass(frozen=True, slots=True)
class EppSettings:
    """The ``[epp]`` table: where the EPP server listens, its TLS files and limits."""

    listen: str = "127.0.0.1:7000"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    require_client_cert: bool = False
    idle_timeout_seconds: int = 600
    sessions_per_registrar: int = 8
    max_frame_bytes: int = 65536
    server_id: str = "tldsec"


@dataclass(frozen=True, slots=True)
class VerifySettings:
    """The ``[verify]`` table: the verification gate's options (DPS 6.6)."""

    external: tuple[str, ...] = ("ldns-verify-zone", "dnssec-verify", "kzonecheck")
    external_timeout_seconds: int = 1800
    second_sample: int | None = 2000  # RRsets re-signed by dnspython; None ("all"): every one
    horizon_hours: int | None = None  # None: the policy's cycle interval + safety margin
    workers: int = 0  # 0: every core
    incremental: bool = True  # verify only what a zone patch says changed, when sound
    full_every_hours: int = 24  # a full verification at least this often ...
    full_every_cycles: int = 96  # ... and after this many incremental ones (0: no limit)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an entry point needs to build the system's parts."""

    home: Path
    origin: str
    keystore: KeyStoreSettings
    policy: Policy
    signer_db_url: str
    registry_db_url: str
    zones_dir: Path
    audit_db_url: str = ""  # [database] audit_url; the audit log's own database (DPS 4.4)
    apex: ApexSettings | None = None  # [zone] apex_*: the zone builder's apex NS and glue
    epp: EppSettings = EppSettings()  # [epp]: the EPP server
    verify: VerifySettings = VerifySettings()  # [verify]: the verification gate

    def keystore_spec(self) -> KeyStoreSpec:
        """The key store spec, with the PIN read from its source now."""
        ks = self.keystore
        if ks.backend not in self.policy.allowed_backends:
            raise ConfigError(
                f"key store backend {ks.backend!r} is not allowed by policy "
                f"{self.policy.source} (keystore.allowed_backends = "
                f"{sorted(self.policy.allowed_backends)}; DPS 5.2 requires an HSM)"
            )
        pin = resolve_pin(ks.pin_source, self.home) if ks.backend == "pkcs11" else None
        return KeyStoreSpec(
            backend=ks.backend,
            module=ks.module,
            token_label=ks.token_label,
            pin=pin,
            softhsm2_conf=ks.softhsm2_conf,
            directory=ks.directory,
        )


def home_from(arg: str | None) -> Path:
    """The home directory: ``--home``, else ``$TLDSEC_HOME``, else ``./tldsec-home``."""
    if arg:
        return Path(arg)
    env = os.environ.get("TLDSEC_HOME")
    return Path(env) if env else DEFAULT_HOME


def resolve_pin(source: str | None, home: Path) -> str:
    """Read a PIN from ``file:PATH`` (relative to the home) or ``env:NAME``."""
    if not source:
        raise KeyStoreLoginError("no PIN source configured ([keystore] pin_source)")
    kind, _, value = source.partition(":")
    if kind == "env":
        pin = os.environ.get(value)
        if pin is None:
            raise KeyStoreLoginError(f"PIN source {source}: ${value} is not set")
        return pin
    if kind == "file":
        path = _in_home(home, value)
        try:
            return path.read_text("utf-8").strip()
        except OSError as exc:
            raise KeyStoreLoginError(
                f"PIN source {source}: cannot read {path}: {exc.strerror}"
            ) from exc
    raise KeyStoreLoginError(f"PIN source {source!r}: use file:PATH or env:NAME")


def find_softhsm2_module() -> Path | None:
    """The SoftHSM2 PKCS#11 library, where Debian or a source build puts it."""
    return next((p for p in SOFTHSM2_MODULE_CANDIDATES if p.exists()), None)


def load_settings(home: Path) -> Settings:
    """Read ``HOME/tldsec.toml``; a missing home or config is a clear error."""
    config = home / CONFIG_NAME
    if not config.exists():
        raise ConfigError(
            f"{config} does not exist: run 'tldsec init --home {home} "
            "--origin ORIGIN' first, or pass the right --home"
        )
    try:
        data = tomllib.loads(config.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{config}: {exc}") from exc
    return settings_from_dict(data, home, source=str(config))


def settings_from_dict(data: dict[str, Any], home: Path, *, source: str) -> Settings:
    def table(name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{name}] must be a table")
        return value

    zone, ks, pol, db = table("zone"), table("keystore"), table("policy"), table("database")
    origin = zone.get("origin")
    if not isinstance(origin, str) or not origin:
        raise ConfigError(f"{source}: [zone] origin is missing")
    if not origin.endswith("."):
        origin += "."
    backend = ks.get("backend", "pkcs11")
    if backend not in ("pkcs11", "file", "memory"):
        raise ConfigError(f"{source}: [keystore] backend {backend!r} is not pkcs11 or file")

    def opt_path(value: Any) -> Path | None:
        return _in_home(home, value) if isinstance(value, str) and value else None

    module = ks.get("module")
    keystore = KeyStoreSettings(
        backend=backend,
        module=Path(module) if module else find_softhsm2_module(),
        token_label=ks.get("token_label", "tldsec"),
        pin_source=ks.get("pin_source", "file:pin"),
        softhsm2_conf=opt_path(ks.get("softhsm2_conf")),
        directory=opt_path(ks.get("directory", "keys")),
    )
    policy_file = pol.get("file", "")
    policy = load_policy(_in_home(home, policy_file) if policy_file else None)
    return Settings(
        home=home,
        origin=origin.lower(),
        keystore=keystore,
        policy=policy,
        signer_db_url=db.get("signer_url", f"sqlite:///{home / 'signer.db'}"),
        registry_db_url=db.get("registry_url", f"sqlite:///{home / 'registry.db'}"),
        zones_dir=_in_home(home, zone.get("zones_dir", "zones")),
        audit_db_url=db.get("audit_url", f"sqlite:///{home / 'audit.db'}"),
        apex=_apex(zone, origin.lower(), source),
        epp=_epp(table("epp"), home, source),
        verify=_verify(table("verify"), source),
    )


def _in_home(home: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else home / path


def _apex(zone: dict[str, Any], origin: str, source: str) -> ApexSettings:
    """Apex NS and glue; the defaults (a/b.nic.ORIGIN on documentation addresses,
    RFC 5737 and RFC 3849) make a loadable zone until the operator sets real ones."""
    ns = zone.get("apex_ns", [f"a.nic.{origin}", f"b.nic.{origin}"])
    glue = zone.get(
        "apex_glue",
        {}
        if "apex_ns" in zone
        else {
            f"a.nic.{origin}": ["192.0.2.53", "2001:db8::53"],
            f"b.nic.{origin}": ["198.51.100.53", "2001:db8:1::53"],
        },
    )
    if not isinstance(ns, list) or not ns or not all(isinstance(n, str) for n in ns):
        raise ConfigError(f"{source}: [zone] apex_ns must be a non-empty list of names")
    if not isinstance(glue, dict):
        raise ConfigError(f"{source}: [zone] apex_glue must be a table of name = [addresses]")

    def absolute(name: str) -> str:
        return name.lower() if name.endswith(".") else f"{name.lower()}."

    pairs: list[tuple[str, str]] = []
    for host, addresses in sorted(glue.items()):
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            raise ConfigError(f"{source}: [zone] apex_glue {host!r} must list addresses")
        pairs.extend((absolute(host), a) for a in addresses)
    timers = {
        k: zone.get(f"soa_{k}", d)
        for k, d in (("refresh", 1800), ("retry", 900), ("expire", 1209600))
    }
    if not all(isinstance(v, int) and 0 < v < 2**31 for v in timers.values()):
        raise ConfigError(f"{source}: [zone] soa_refresh/retry/expire must be positive integers")
    return ApexSettings(
        ns=tuple(absolute(n) for n in ns),
        glue=tuple(pairs),
        soa_mname=absolute(str(zone.get("soa_mname", ns[0]))),
        soa_rname=absolute(str(zone.get("soa_rname", f"hostmaster.{origin}"))),
        soa_refresh=timers["refresh"],
        soa_retry=timers["retry"],
        soa_expire=timers["expire"],
    )


def _epp(epp: dict[str, Any], home: Path, source: str) -> EppSettings:
    def path(key: str, default: str | None) -> Path | None:
        value = epp.get(key, default)
        return _in_home(home, value) if isinstance(value, str) and value else None

    numbers = {
        key: epp.get(key, default)
        for key, default in (
            ("idle_timeout_seconds", 600),
            ("sessions_per_registrar", 8),
            ("max_frame_bytes", 65536),
        )
    }
    if not all(isinstance(v, int) and v > 0 for v in numbers.values()):
        raise ConfigError(f"{source}: [epp] {', '.join(numbers)} must be positive integers")
    return EppSettings(
        listen=str(epp.get("listen", "127.0.0.1:7000")),
        tls_cert=path("tls_cert", "epp-cert.pem"),
        tls_key=path("tls_key", "epp-key.pem"),
        client_ca=path("client_ca", None),
        require_client_cert=bool(epp.get("require_client_cert", False)),
        server_id=str(epp.get("server_id", "tldsec")),
        **numbers,
    )


def _verify(table: dict[str, Any], source: str) -> VerifySettings:
    """``[verify]``: external = [...], external_timeout_seconds, second_sample (a number,
    or "all"), horizon_hours, workers, incremental, full_every_hours, full_every_cycles."""
    known = {
        "external",
        "external_timeout_seconds",
        "second_sample",
        "horizon_hours",
        "workers",
        "incremental",
        "full_every_hours",
        "full_every_cycles",
    }
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{source}: [verify] {unknown[0]} is not a setting (misspelt?)")
    default = VerifySettings()
    external = table.get("external", list(default.external))
    if not isinstance(external, list) or not all(isinstance(t, str) for t in external):
        raise ConfigError(f"{source}: [verify] external must be a list of validator names")

    def number(key: str, low: int, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{source}: [verify] {key} must be an integer >= {low}")
        return value

    sample = table.get("second_sample", default.second_sample)
    horizon = table.get("horizon_hours")
    return VerifySettings(
        external=tuple(external),
        external_timeout_seconds=number(
            "external_timeout_seconds",
            1,
            table.get("external_timeout_seconds", default.external_timeout_seconds),
        ),
        second_sample=None if sample == "all" else number("second_sample", 0, sample),
        horizon_hours=None if horizon is None else number("horizon_hours", 1, horizon),
        workers=number("workers", 0, table.get("workers", default.workers)),
        incremental=_flag(source, table.get("incremental", default.incremental)),
        full_every_hours=number(
            "full_every_hours", 1, table.get("full_every_hours", default.full_every_hours)
        ),
        full_every_cycles=number(
            "full_every_cycles", 0, table.get("full_every_cycles", default.full_every_cycles)
        ),
    )


def _flag(source: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{source}: [verify] incremental must be true or false")
    return value
