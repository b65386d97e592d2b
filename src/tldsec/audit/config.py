"""The ``[audit]`` table of ``tldsec.toml``, and opening the audit log an entry point passes down.

    [database]
    audit_url = "sqlite:///HOME/audit.db"     # Settings.audit_db_url; its own database

    [audit]
    key_backend = "auto"          # auto | file | pkcs11
    key_file = "audit-key.pem"    # on-disk key, relative to the home, mode 0600
    key_label = "tldsec-audit"    # the key's label in the [keystore] token
    archive_dir = "audit-archive"
    checkpoint_every = 1000       # sign a checkpoint at least every N entries ...
    checkpoint_interval_seconds = 3600   # ... and at least this often
    clock_tolerance_ms = 1000     # a step back smaller than this is not an anomaly
    anchor_dir = "audit-anchors"  # per-day checkpoint files (put it out of the DB owner's reach)
    syslog = false                # also one syslog line per checkpoint
    witness_url = ""              # a second database URL, or an http(s):// endpoint
    maintenance_url = ""          # PostgreSQL: the maintenance role that may purge
    archive_interval_days = 30    # each archive file holds about this long a stretch

``auto`` keeps the audit key in the HSM when the key store is PKCS#11 and the token
offers Ed25519 (CKM_EDDSA), else on disk; once a key exists, its place is kept. A token
the Security Officer activates (``pin_source = "security-officer"``) is locked at times,
and the log is written then too, so ``auto`` keeps that home's audit key on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tldsec import __version__
from tldsec.audit.anchors import CheckpointAnchor, FileAnchor, SyslogAnchor, witness_for
from tldsec.audit.clockstatus import KernelClockStatus
from tldsec.audit.events import Actor, EventType
from tldsec.audit.log import SELF, AuditLog, WriterOptions
from tldsec.audit.pkcs11_signer import (
    Pkcs11AuditSigner,
    module_supports_eddsa,
)
from tldsec.audit.schema import ensure_schema
from tldsec.audit.signing import AuditSigner, FileAuditSigner
from tldsec.audit.startup import FileHashes, as_details, record_changes
from tldsec.clock import Clock
from tldsec.db.base import make_engine
from tldsec.errors import AuditError, ConfigError, KeyStoreError
from tldsec.policy import SECURITY_OFFICER
from tldsec.settings import CONFIG_NAME, PRIMARY, Settings

KEY_BACKENDS = ("auto", "file", "pkcs11")


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """Where the audit key and archives live, and when checkpoints are signed."""

    db_url: str
    key_backend: str
    key_file: Path
    key_label: str
    archive_dir: Path
    writer: WriterOptions
    anchor_dir: Path | None = None
    syslog: bool = False
    witness_url: str | None = None
    maintenance_url: str | None = None
    archive_interval: timedelta = timedelta(days=30)

    def anchors(self) -> list[CheckpointAnchor]:
        """The places each checkpoint is copied to (audit/anchors.py)."""
        found: list[CheckpointAnchor] = []
        if self.anchor_dir is not None:
            found.append(FileAnchor(self.anchor_dir))
        if self.syslog:
            found.append(SyslogAnchor())
        if self.witness_url:
            found.append(witness_for(self.witness_url, make_engine))
        return found


def audit_config(settings: Settings) -> AuditConfig:
    """The ``[audit]`` table of the settings (checked by ``settings.tables.AuditTable``)."""
    table = settings.config.audit
    home = settings.home
    return AuditConfig(
        db_url=settings.audit_db_url or f"sqlite:///{home / 'audit.db'}",
        key_backend=table.key_backend,
        key_file=_in_home(home, table.key_file),
        key_label=table.key_label,
        archive_dir=_in_home(home, table.archive_dir),
        writer=WriterOptions(
            checkpoint_every=table.checkpoint_every,
            checkpoint_interval=timedelta(seconds=table.checkpoint_interval_seconds),
            backwards_tolerance=timedelta(milliseconds=table.clock_tolerance_ms),
        ),
        anchor_dir=_in_home(home, table.anchor_dir),
        syslog=table.syslog,
        witness_url=_witness(table.witness_url, settings),
        maintenance_url=table.maintenance_url or None,
        archive_interval=timedelta(days=table.archive_interval_days),
    )


def _witness(url: str, settings: Settings) -> str | None:
    if url and "://" not in url:
        raise ConfigError(
            f"{settings.home / CONFIG_NAME}: [audit] witness_url {url!r} is neither an "
            "http(s):// endpoint nor a database URL"
        )
    return url or None


def _in_home(home: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else home / path


def resolve_backend(settings: Settings, config: AuditConfig) -> str:
    """``file`` or ``pkcs11``: where the audit key is (or, for a new key, goes)."""
    if config.key_backend != "auto":
        return config.key_backend
    if config.key_file.exists():
        return "file"
    ks = settings.keystore
    if ks.backend != "pkcs11" or ks.module is None or not ks.token_label:
        return "file"
    if ks.pin_source == SECURITY_OFFICER:
        # The log must be written while the HSM is locked (a refused activation is an
        # entry, DPS 5.5), so it cannot wait for the Security Officer's PIN.
        return "file"
    try:
        pin = settings.token_pin(PRIMARY, ks.pin_source, ks.token_label)
    except ConfigError:
        pin = None  # no repair of the token record here; the signer's opening says why
    try:
        return (
            "pkcs11"
            if module_supports_eddsa(ks.module, ks.token_label, ks.softhsm2_conf, pin)
            else "file"
        )
    except KeyStoreError as exc:
        raise AuditError(f"cannot ask the HSM whether it keeps Ed25519 keys: {exc}") from exc


def open_signer(settings: Settings, config: AuditConfig, *, create: bool = False) -> AuditSigner:
    """The configured audit key; with ``create``, generated if it does not exist."""
    backend = resolve_backend(settings, config)
    if backend == "file":
        if create and not config.key_file.exists():
            return FileAuditSigner.create(config.key_file)
        return FileAuditSigner.load(config.key_file)
    ks = settings.keystore
    if ks.module is None or not ks.token_label:
        raise AuditError("[audit] key_backend = pkcs11 needs [keystore] module and token_label")
    args: dict[str, Any] = {
        "module": ks.module,
        "token_label": ks.token_label,
        "pin": settings.token_pin(PRIMARY, ks.pin_source, ks.token_label),
        "key_label": config.key_label,
        "softhsm2_conf": ks.softhsm2_conf,
    }
    try:
        return Pkcs11AuditSigner(**args)
    except AuditError:
        if not create:
            raise
    return Pkcs11AuditSigner.create(**args)


def open_audit_log(
    settings: Settings,
    clock: Clock,
    *,
    create: bool = True,
    new_key: bool = False,
    pre_ping: bool = True,
) -> AuditLog:
    """The audit log for an entry point to pass down: schema, key, clock status probe.

    A brand-new log (no entries yet) gets its schema and, with ``create``, its key, and
    records both. A log with entries never gets a new key silently: a missing key is
    an error, for an operator to restore, or to replace with ``new_key`` (recorded; the
    auditor then needs both public keys).
    """
    config = audit_config(settings)
    # ``pre_ping=False`` (the EPP server): no round trip before every append; after a
    # database restart one append fails, and with it its command (nothing is changed).
    engine = (
        make_engine(config.db_url, pool_pre_ping=False)
        if not pre_ping and not config.db_url.startswith("sqlite")
        else make_engine(config.db_url)
    )
    log = _log_without_key(engine, clock, config, _only_zone(settings))
    try:
        ensure_schema(engine)
        fresh = log.head().seq == 0
        existed = key_exists(settings, config)
        log.signer = open_signer(settings, config, create=(create and fresh) or new_key)
        if fresh:  # with the version and file hashes later commands compare with
            log.record(
                EventType.AUDIT_INITIALIZED,
                actor=SELF,
                database=_safe_url(config.db_url),
                version=__version__,
                **as_details(FileHashes.of(settings)),
            )
        if not existed:
            log.record(
                EventType.AUDIT_KEY_GENERATED,
                actor=SELF,
                key_id=log.signer.key_id,
                backend=resolve_backend(settings, config),
            )
        # DPS 4.4.1: software version, configuration and policy changed since last seen
        record_changes(log, settings, actor=SELF, version=__version__)
        record_restored_tokens(log.record, SELF)  # the audit key's token opened first
    except BaseException:
        log.close()
        raise
    return log


def record_restored_tokens(recorder: Callable[..., Any], actor: Actor | str) -> int:
    """Record each SoftHSM2 token record this process restored from its good copy and
    not yet recorded (``hsm.token_record_restored``, decision 81); how many."""
    from tldsec.hsm import p11lib

    restored = p11lib.take_restored()
    for repair in restored:
        recorder(EventType.HSM_TOKEN_RECORD_RESTORED, actor=actor, **repair.details())
    return len(restored)


def open_unsigned_log(settings: Settings, clock: Clock) -> AuditLog:
    """An existing log without its key: for recording that the HSM refused a login (the
    audit key may be in that HSM). Its entries wait for the next signed checkpoint."""
    config = audit_config(settings)
    log = _log_without_key(make_engine(config.db_url), clock, config, _only_zone(settings))
    try:
        ensure_schema(log.engine)
        if log.head().seq == 0:
            raise AuditError(f"there is no audit log in {settings.home}")
    except BaseException:
        log.close()
        raise
    return log


def _only_zone(settings: Settings) -> str | None:
    """The home's origin when it serves one zone; with several, None: each writer
    names its zone (decision 58), and the log opens for every command (decision 61)."""
    zones = list(settings.zones)
    return zones[0] if len(zones) == 1 else None


def _log_without_key(
    engine: Engine, clock: Clock, config: AuditConfig, zone: str | None
) -> AuditLog:
    """The log on ``engine`` as ``config`` sets it up, owning the engine; no signer yet.

    ``zone`` (the home's origin; None in a home of several) is the zone of the entries
    that concern one and name none (decisions.md 58)."""
    return AuditLog(
        engine,
        clock,
        signer=None,
        probe=KernelClockStatus(),
        options=config.writer,
        owns_engine=True,
        anchors=config.anchors(),
        zone=zone,
    )


def key_exists(settings: Settings, config: AuditConfig) -> bool:
    """Whether the audit key is where the configuration puts it (without making it)."""
    if resolve_backend(settings, config) == "file":
        return config.key_file.exists()
    try:
        open_signer(settings, config).close()
    except AuditError:
        return False
    return True


def _safe_url(url: str) -> str:
    """The URL without a password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        rest = f"{user}@{host}"
    return f"{scheme}{sep}{rest}"
