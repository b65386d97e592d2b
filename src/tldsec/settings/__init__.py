"""Settings: the home directory and its ``tldsec.toml``, built once by an entry point.

A home is the one directory that holds the config, the databases, the SoftHSM2 token
(or key directory) and the zones. Entry points call ``load_settings`` and pass the
result down; nothing reads settings from a global.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tldsec.errors import ConfigError, KeyStoreLocked, KeyStoreLoginError
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.softhsm_library import find_softhsm2_module
from tldsec.policy import SECURITY_OFFICER, Policy
from tldsec.settings.strict import read_table
from tldsec.settings.tables import ConfigFile, EppTable, ReplicaTable, VerifyTable
from tldsec.settings.zones import ApexSettings as ApexSettings
from tldsec.settings.zones import ZoneSettings as ZoneSettings
from tldsec.settings.zones import read_zones, table_origin
from tldsec.zonehome import ZoneHome

CONFIG_NAME = "tldsec.toml"
DEFAULT_HOME = Path("tldsec-home")
# Asked for the PIN of one token: (its name, "keystore" or "replica NAME"; its label).
# An entry point provides it: a prompt for the Security Officer, an SO-held file, or
# the pipe from ``tldsec serve`` (DPS 4.2.4, 5.2.8).
PinProvider = Callable[[str, str], str]
PRIMARY = "keystore"  # the name of the [keystore] token among the HSMs


@dataclass(frozen=True, slots=True)
class ReplicaSettings:
    """One ``[[keystore.replica]]``: another HSM that must hold every key (a second site)."""

    name: str
    module: Path | None
    token_label: str
    pin_source: str | None
    softhsm2_conf: Path | None

    @property
    def token_name(self) -> str:
        return f"replica {self.name}"


@dataclass(frozen=True, slots=True)
class KeyStoreSettings:
    """The ``[keystore]`` table: which backend, and how to reach it."""

    backend: str
    module: Path | None
    token_label: str | None
    pin_source: str | None
    softhsm2_conf: Path | None
    directory: Path | None
    replicas: tuple[ReplicaSettings, ...] = ()


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
    login_timeout_seconds: int = 30
    unauthenticated_per_address: int = 16
    unauthenticated_total: int = 512
    frame_min_bytes_per_second: int = 1024


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
    # origin -> its zone, in the order of the file (``[zones.NAME]``, or the one [zone])
    zones: Mapping[str, ZoneSettings]
    keystore: KeyStoreSettings
    policies: Mapping[str, Policy]  # [policies] (or [policy] as "default"), loaded
    policy_files: Mapping[str, Path | None]  # each policy's file; None: the built-in DPS
    signer_db_url: str
    registry_db_url: str
    zones_dir: Path
    # Every table as written, checked (settings/tables.py): the modules that own the
    # other tables ([audit], [cycle], [keys], [serve], [ceremony], [distribute]) read theirs here.
    config: ConfigFile
    source: Path  # the file the settings were read from
    audit_db_url: str = ""  # [database] audit_url; the audit log's own database (DPS 4.4)
    epp: EppSettings = EppSettings()  # [epp]: the EPP server
    verify: VerifySettings = VerifySettings()  # [verify]: the verification gate
    # Where a Security Officer's PIN comes from in this process (``pin_source =
    # "security-officer"``); None: nowhere, the HSM stays locked.
    pin_provider: PinProvider | None = field(default=None, repr=False, compare=False)

    @property
    def zone(self) -> ZoneSettings:
        """The home's only zone; a ``ConfigError`` naming the zones where it serves
        several (a caller that needs one zone has to be told which, decision 57)."""
        if len(self.zones) != 1:
            raise ConfigError(
                f"this home serves {', '.join(self.zones)}: name one with --zone ({self.source})"
            )
        return next(iter(self.zones.values()))

    @property
    def origin(self) -> str:
        """The only zone's origin (``example.``); ``ConfigError`` with several zones."""
        return self.zone.origin

    @property
    def zone_dir(self) -> Path:
        """The only zone's directory, ``zones/NAME/`` (its cycle state, reports, work
        files and store; decision 57); ``ConfigError`` with several zones."""
        return ZoneHome(self.zones_dir, self.origin).root

    def zone_origin(self, name: str) -> str:
        """``name`` (``shop``, ``Shop.``) as one of the home's origins; ``ConfigError``
        naming the zones the home serves otherwise."""
        origin = name.lower() if name.endswith(".") else name.lower() + "."
        if origin not in self.zones:
            raise ConfigError(
                f"{origin} is not a zone of this home (it serves {', '.join(self.zones)}; "
                f"{self.source})"
            )
        return origin

    def for_zone(self, name: str) -> Settings:
        """These settings narrowed to one zone: ``origin``, ``apex``, ``policy`` and
        ``zone_dir`` are that zone's. What a zone's cycle, key manager and store are
        built from (decision 64); the installation-wide parts stay as they are."""
        origin = self.zone_origin(name)
        return replace(self, zones={origin: self.zones[origin]})

    def one_zone(self, name: str | None) -> Settings:
        """A command that changes one zone (decision 57, "CLI --zone conventions"):
        ``--zone NAME``, or the home's only zone; ``ConfigError`` with several and none
        named."""
        if name is None:
            return self.for_zone(self.origin)  # the only one, or "name one with --zone"
        return self.for_zone(name)

    def selected_zones(self, name: str | None) -> list[Settings]:
        """A command that reports: ``--zone NAME`` narrows, none means every zone, in
        the order of the file."""
        if name is not None:
            return [self.for_zone(name)]
        return [self.for_zone(origin) for origin in self.zones]

    @property
    def apex(self) -> ApexSettings | None:
        """The only zone's apex NS, glue and SOA; ``ConfigError`` with several zones."""
        return self.zone.apex

    @property
    def policy(self) -> Policy:
        """The policy of the home's zones where they share one (a one-zone home's);
        ``ConfigError`` naming the zones where they do not."""
        return self.policies[self.policy_name]

    @property
    def policy_name(self) -> str:
        """The name in ``[policies]`` of the policy every zone follows (``default``)."""
        names = {z.policy_name for z in self.zones.values()}
        if len(names) != 1:
            raise ConfigError(
                "the zones of this home follow different policies ("
                + ", ".join(f"{z.origin} {z.policy_name}" for z in self.zones.values())
                + f"): name one zone with --zone ({self.source})"
            )
        return names.pop()

    def zones_policies(self) -> list[Policy]:
        """Every policy a zone of the home follows, once each: the installation-wide
        rules (key store backends, PIN activation) must hold for all of them."""
        names = dict.fromkeys(z.policy_name for z in self.zones.values())
        return [self.policies[n] for n in names]

    def database_urls(self) -> dict[str, str]:
        """Each database of the home by name (``[database] NAME_url``)."""
        return {
            "registry": self.registry_db_url,
            "signer": self.signer_db_url,
            "audit": self.audit_db_url,
        }

    def keystore_spec(self) -> KeyStoreSpec:
        """The key store spec, with the PIN read from its source now."""
        ks = self.keystore
        for policy in self.zones_policies():
            if ks.backend not in policy.allowed_backends:
                raise ConfigError(
                    f"key store backend {ks.backend!r} is not allowed by policy "
                    f"{policy.source} (keystore.allowed_backends = "
                    f"{sorted(policy.allowed_backends)}; DPS 5.2 requires an HSM)"
                )
        pin = (
            self.token_pin(PRIMARY, ks.pin_source, ks.token_label or "")
            if ks.backend == "pkcs11"
            else None
        )
        return KeyStoreSpec(
            backend=ks.backend,
            module=ks.module,
            token_label=ks.token_label,
            pin=pin,
            softhsm2_conf=ks.softhsm2_conf,
            directory=ks.directory,
        )

    def replica_specs(self) -> list[tuple[ReplicaSettings, KeyStoreSpec]]:
        """Each ``[[keystore.replica]]`` and the spec that opens it, PIN read now."""
        return [
            (
                r,
                KeyStoreSpec(
                    backend="pkcs11",
                    module=r.module,
                    token_label=r.token_label,
                    pin=self.token_pin(r.token_name, r.pin_source, r.token_label),
                    softhsm2_conf=r.softhsm2_conf,
                ),
            )
            for r in self.keystore.replicas
        ]

    def token_pin(self, name: str, source: str | None, label: str) -> str:
        """The user PIN of one token: from the Security Officer (the provider), or, where
        the policy lets the home store it, from its ``file:``/``env:`` source."""
        if source == SECURITY_OFFICER:
            if self.pin_provider is None:
                raise KeyStoreLocked(
                    f"HSM token '{label}' is locked: its PIN is held by the Security "
                    "Officer (DPS 4.2.4); 'tldsec hsm activate' activates the running "
                    "service, other commands ask at the terminal or take --pin-file"
                )
            return self.pin_provider(name, label)
        for policy in self.zones_policies():
            if policy.activation != SECURITY_OFFICER:
                continue
            raise ConfigError(
                f"policy {policy.name!r} keeps the HSM PIN with the Security Officer "
                f'(DPS 4.2.4, 5.4): set pin_source = "{SECURITY_OFFICER}" for {name} '
                "and remove the stored PIN from the home"
            )
        return resolve_pin(source, self.home)


def home_from(arg: str | None) -> Path:
    """The home directory: ``--home``, else ``$TLDSEC_HOME``, else ``./tldsec-home``."""
    if arg:
        return Path(arg)
    env = os.environ.get("TLDSEC_HOME")
    return Path(env) if env else DEFAULT_HOME


def resolve_pin(source: str | None, home: Path) -> str:
    """Read a PIN from ``file:PATH`` (relative to the home), ``env:NAME`` or
    ``credential:NAME``: the file NAME in ``$CREDENTIALS_DIRECTORY``, where systemd's
    ``LoadCredential=`` puts a secret only the service can read (packaging/systemd)."""
    if not source:
        raise KeyStoreLoginError("no PIN source configured ([keystore] pin_source)")
    kind, _, value = source.partition(":")
    if kind == "env":
        pin = os.environ.get(value)
        if pin is None:
            raise KeyStoreLoginError(f"PIN source {source}: ${value} is not set")
        return pin
    if source == SECURITY_OFFICER:
        raise KeyStoreLocked()
    if kind == "credential":
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory or not value or "/" in value:
            raise KeyStoreLoginError(
                f"PIN source {source}: $CREDENTIALS_DIRECTORY is not set (run under systemd "
                "with LoadCredential=NAME:FILE) or the name is not a plain file name"
            )
        path = Path(directory) / value
        try:
            return path.read_text("utf-8").strip()
        except OSError as exc:
            raise KeyStoreLoginError(
                f"PIN source {source}: cannot read {path}: {exc.strerror}"
            ) from exc
    if kind == "file":
        path = _in_home(home, value)
        try:
            return path.read_text("utf-8").strip()
        except OSError as exc:
            raise KeyStoreLoginError(
                f"PIN source {source}: cannot read {path}: {exc.strerror}"
            ) from exc
    raise KeyStoreLoginError(
        f'PIN source {source!r}: use "{SECURITY_OFFICER}", file:PATH, env:NAME or credential:NAME'
    )


def load_settings(home: Path, *, enforce_policy: bool = True) -> Settings:
    """Read ``HOME/tldsec.toml`` once, strictly; a missing home or config is a clear error.

    Every table is checked against its schema in ``settings.tables``: an unknown key or
    table, or a value of the wrong type, is a ``ConfigError`` naming the file, the table,
    the key and the nearest valid key. ``enforce_policy=False`` (``tldsec policy
    check``) keeps a policy that breaks its rules, so that they can be listed.
    """
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
    return settings_from_dict(data, home, source=str(config), enforce_policy=enforce_policy)


def settings_from_dict(
    data: dict[str, Any], home: Path, *, source: str, enforce_policy: bool = True
) -> Settings:
    """Check a parsed ``tldsec.toml`` against ``ConfigFile`` and build the ``Settings``."""
    tables = read_table(ConfigFile, data, table="", source=source)
    ks, db = tables.keystore, tables.database
    zones = read_zones(tables, data, home, source=source, enforce_policy=enforce_policy)

    def opt_path(value: str | None) -> Path | None:
        return _in_home(home, value) if value else None

    keystore = KeyStoreSettings(
        backend=ks.backend,
        module=Path(ks.module) if ks.module else find_softhsm2_module(),
        token_label=ks.token_label,
        pin_source=ks.pin_source,
        softhsm2_conf=opt_path(ks.softhsm2_conf),
        directory=opt_path(ks.directory),
        replicas=_replicas(ks.replica, home, ks.pin_source, source),
    )
    return Settings(
        home=home,
        zones=zones.zones,
        keystore=keystore,
        policies=zones.policies,
        policy_files=zones.policy_files,
        signer_db_url=db.signer_url or f"sqlite:///{home / 'signer.db'}",
        registry_db_url=db.registry_url or f"sqlite:///{home / 'registry.db'}",
        zones_dir=_in_home(home, zones.zones_dir),
        audit_db_url=db.audit_url or f"sqlite:///{home / 'audit.db'}",
        epp=_epp(tables.epp, home),
        verify=_verify(tables.verify),
        config=tables,
        source=Path(source),
    )


def _replicas(
    tables: tuple[ReplicaTable, ...], home: Path, pin_source: str, source: str
) -> tuple[ReplicaSettings, ...]:
    """``[[keystore.replica]]``: the pin_source defaults to the ``[keystore]`` one; names
    are unique."""
    out: list[ReplicaSettings] = []
    for t in tables:
        if not t.name or not t.token_label:
            raise ConfigError(f"each [[keystore.replica]] in {source} needs a name and token_label")
        if any(r.name == t.name for r in out):
            raise ConfigError(f"two [[keystore.replica]] in {source} are named {t.name!r}")
        out.append(
            ReplicaSettings(
                name=t.name,
                module=Path(t.module) if t.module else find_softhsm2_module(),
                token_label=t.token_label,
                pin_source=t.pin_source or pin_source,
                softhsm2_conf=_in_home(home, t.softhsm2_conf) if t.softhsm2_conf else None,
            )
        )
    return tuple(out)


def policy_path(settings: Settings) -> Path | None:
    """The policy file of the home's zones (``[policy] file`` or their one name in
    ``[policies]``, in the home), or None for the built-in DPS policy; ``ConfigError``
    where the zones follow different policies."""
    return settings.policy_files[settings.policy_name]


def home_zone_policies(settings: Settings) -> dict[str, str]:
    """Each zone of the home (its origin) with the name of the policy it follows, in the
    file's order: the whole home's as ``tldsec.toml`` names them, in settings narrowed to
    one zone (``for_zone``) too."""
    config = settings.config
    if config.zone is None and config.zones:
        return {
            table_origin(name, str(settings.source)): table.policy
            for name, table in config.zones.items()
        }
    # A [zone] home has one zone, which narrowing keeps; settings built without their
    # file's tables have only their own zones to name.
    return {origin: zone.policy_name for origin, zone in settings.zones.items()}


def home_policy_files(settings: Settings) -> dict[str, Path | None]:
    """Each policy the home's zones follow, once, in the order of its zones, with its
    file (None: the built-in DPS policy): the whole home's as ``tldsec.toml`` names them,
    in settings narrowed to one zone (``for_zone``) too."""
    names = home_zone_policies(settings).values()
    return {name: settings.policy_files[name] for name in dict.fromkeys(names)}


def join_by_policy(values: dict[str, str]) -> str:
    """One value per policy of the home as one text: a lone policy's bare, several as
    ``NAME=VALUE, NAME=VALUE`` (decisions 79, 80), as the audit log and the signer
    config approval name the home's policy files and their hashes."""
    if len(values) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{name}={value}" for name, value in values.items())


def split_by_policy(text: str | None) -> dict[str, str] | None:
    """``join_by_policy``'s values by policy name; None for a lone policy's (or none)."""
    if text is None or "=" not in text:
        return None
    return dict(part.partition("=")[::2] for part in text.split(", "))


def file_sha256(path: Path) -> str:
    """The SHA-256 (hex) of a file's bytes as they are on disk now; OSError if unreadable."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _in_home(home: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else home / path


def _epp(epp: EppTable, home: Path) -> EppSettings:
    def path(value: str | None) -> Path | None:
        return _in_home(home, value) if value else None

    return EppSettings(
        listen=epp.listen,
        tls_cert=path(epp.tls_cert),
        tls_key=path(epp.tls_key),
        client_ca=path(epp.client_ca),
        require_client_cert=epp.require_client_cert,
        server_id=epp.server_id,
        idle_timeout_seconds=epp.idle_timeout_seconds,
        sessions_per_registrar=epp.sessions_per_registrar,
        max_frame_bytes=epp.max_frame_bytes,
        login_timeout_seconds=epp.login_timeout_seconds,
        unauthenticated_per_address=epp.unauthenticated_per_address,
        unauthenticated_total=epp.unauthenticated_total,
        frame_min_bytes_per_second=epp.frame_min_bytes_per_second,
    )


def _verify(table: VerifyTable) -> VerifySettings:
    """``[verify]``; ``second_sample`` is a number or "all" (every RRset)."""
    sample = table.second_sample
    return VerifySettings(
        external=table.external,
        external_timeout_seconds=table.external_timeout_seconds,
        second_sample=None if sample == "all" else int(sample),
        horizon_hours=table.horizon_hours,
        workers=table.workers,
        incremental=table.incremental,
        full_every_hours=table.full_every_hours,
        full_every_cycles=table.full_every_cycles,
    )
