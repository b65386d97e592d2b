"""``tldsec init --existing``: complete a home whose ``tldsec.toml`` the operator wrote.

The production install (docs/operations.md): the operator writes the config, initialises
the HSM token with the vendor's tools and creates the PostgreSQL databases and roles;
this then runs the migrations as ``[database] owner_role``, makes the audit log's key,
the EPP TLS certificate and the zone's first keys, in that order, and says what it did.
Each step first looks whether it is done, so running it again changes nothing and says
so. A missing prerequisite is one line naming the ``tldsec.toml`` key to fix.

``init --existing`` rather than a ``setup`` command: it is ``init``'s work on a config
that already exists (the same key bootstrap, audit entries and next steps, from one
module), and one command to make a home is one to learn and to keep in step.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tldsec.audit.config import audit_config, key_exists, open_audit_log, resolve_backend
from tldsec.audit.events import EventType
from tldsec.audit.log import AuditLog
from tldsec.ceremony.store import load_ceremony_settings
from tldsec.cli.common import operator_actor, redacted, require_databases, settings_from_args
from tldsec.cli.db import move_zone_files, upgrade_databases
from tldsec.clock import Clock, SystemClock
from tldsec.db.exists import create_database, database_exists
from tldsec.epp.tlscert import make_self_signed
from tldsec.errors import ConfigError, KeyStoreUnavailable
from tldsec.hsm.base import KeyStore
from tldsec.hsm.open import open_keystore
from tldsec.hsm.protection import key_protection
from tldsec.keys.database import open_signer_db
from tldsec.keys.service import KeyManager
from tldsec.keys.state import KeyRecord
from tldsec.policy import SECURITY_OFFICER
from tldsec.settings import CONFIG_NAME, Settings, home_from

FOUNDING_OPERATIONS = ("keys.generate",)  # under a ceremony: the founding makes the keys


def run(args: argparse.Namespace) -> int:
    home = home_from(args.home)
    config = home / CONFIG_NAME
    if not config.exists():
        raise ConfigError(
            f"{config} does not exist: write it first (docs/operations.md, 'Production'), "
            "or run 'tldsec init --origin ORIGIN' for a home with the embedded defaults"
        )
    settings = settings_from_args(args, databases=())
    if args.origin:
        origin = args.origin.lower() if args.origin.endswith(".") else args.origin.lower() + "."
        if origin != settings.origin:
            raise ConfigError(
                f"--origin {args.origin} differs from [zone] origin {settings.origin!r} in "
                f"{config}: leave --origin out, or correct the config"
            )
    clock = SystemClock()
    done: list[str] = []
    present: list[str] = []

    def step(changed: bool, line: str) -> None:
        (done if changed else present).append(line)
        print(f"  {'done   ' if changed else 'present'} {line}")

    print(f"tldsec home {home} for {settings.origin} (policy {settings.policy.name})")
    _check_keystore(settings)
    for line in _databases(settings):
        step(True, line)
    changed = upgrade_databases(
        settings, owner_role=args.owner_role, say=lambda line: print(f"          {line}")
    )
    step(bool(changed), "databases at the newest schema" + (f" ({', '.join(changed)} migrated)"
                                                            if changed else ""))  # fmt: skip
    step(*_zone_dir(settings))
    audit, made_key = _audit_log(settings, clock)
    try:
        where = audit_config(settings)
        place = (
            str(where.key_file)
            if resolve_backend(settings, where) == "file"
            else f"label {where.key_label} in the HSM"
        )
        step(made_key, f"audit log and its key ({place})")
        step(*_epp_certificate(settings, clock, args.epp_hostname))
        created, keys = _first_keys(settings, audit, clock, args)
    finally:
        audit.close()
    if keys is None:
        print(
            "  waiting the first keys: [ceremony] required makes them in the founding "
            "ceremony (DPS 5.1.1)"
        )
    else:
        step(bool(created), "first keys: " + _describe(keys, clock.now()))
    print(f"summary: {len(done)} done, {len(present)} already done")
    _next_steps(settings, keys, created)
    return 0


def _zone_dir(settings: Settings) -> tuple[bool, str]:
    """The zone's own directory (decision 57): made, or the cycle files a home of the
    layout before it keeps directly in ``zones/`` moved into it (as ``db upgrade``)."""
    target = settings.zone_dir
    moved = move_zone_files(settings, say=lambda line: print(f"          {line}"))
    if not moved and target.is_dir():
        return False, f"zone directory {target}"
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    return True, f"zone directory {target}" + (f" ({', '.join(moved)} moved in)" if moved else "")


def _check_keystore(settings: Settings) -> None:
    """The key store's files the config names exist (the token itself is asked later)."""
    ks = settings.keystore
    src = settings.source
    if ks.backend != "pkcs11":
        return
    if ks.module is None:
        raise ConfigError(
            f"no PKCS#11 module: set [keystore] module in {src} to the vendor's library "
            "(SoftHSM2 was not found where Debian puts it)"
        )
    if not ks.module.is_file():
        raise ConfigError(
            f"[keystore] module {ks.module} in {src} does not exist: install the vendor's "
            "PKCS#11 library or correct the path"
        )
    if ks.softhsm2_conf is not None and not ks.softhsm2_conf.is_file():
        raise ConfigError(
            f"[keystore] softhsm2_conf {ks.softhsm2_conf} in {src} does not exist: "
            "initialise the token first (softhsm2-util --init-token, docs/operations.md)"
        )


def _databases(settings: Settings) -> list[str]:
    """Each database the config names must exist (the operator created it); only the
    default SQLite files in the home are created here, as plain ``init`` does."""
    made: list[str] = []
    for name, url in settings.database_urls().items():
        written = getattr(settings.config.database, f"{name}_url") is not None
        if not written and not database_exists(url):
            create_database(url)
            made.append(f"{name} database {redacted(url)} created")
    # The written ones: unreachable or missing is one line naming [database] NAME_url.
    require_databases(settings)
    return made


def _audit_log(settings: Settings, clock: Clock) -> tuple[AuditLog, bool]:
    """The audit log, its key made if the log is new; whether the key was made now."""
    existed = key_exists(settings, audit_config(settings))
    return open_audit_log(settings, clock), not existed


def _epp_certificate(settings: Settings, clock: Clock, hostname: str) -> tuple[bool, str]:
    epp = settings.epp
    src = settings.source
    if epp.tls_cert is None or epp.tls_key is None:
        raise ConfigError(f"[epp] tls_cert and tls_key in {src} must name the EPP server's files")
    if epp.tls_cert.exists() != epp.tls_key.exists():
        missing, key = (
            (epp.tls_key, "tls_key") if epp.tls_cert.exists() else (epp.tls_cert, "tls_cert")
        )
        raise ConfigError(
            f"[epp] {key} {missing} in {src} does not exist while its pair does: put the "
            "missing file there, or remove both to have a self-signed pair made"
        )
    if epp.tls_cert.exists():
        try:
            cert = x509.load_pem_x509_certificate(epp.tls_cert.read_bytes())
        except ValueError as exc:
            raise ConfigError(f"[epp] tls_cert {epp.tls_cert} in {src}: {exc}") from exc
        fingerprint = cert.fingerprint(hashes.SHA256()).hex()
        until = cert.not_valid_after_utc.strftime("%Y-%m-%d")
        return False, f"EPP TLS certificate {epp.tls_cert} (SHA-256 {fingerprint}, until {until})"
    fingerprint = make_self_signed(epp.tls_cert, epp.tls_key, hostname, clock=clock)
    return True, (
        f"EPP TLS certificate {epp.tls_cert} (self-signed for {hostname}, SHA-256 "
        f"{fingerprint}; replace it with one from your CA, docs/epp.md)"
    )


def _first_keys(
    settings: Settings, audit: AuditLog, clock: Clock, args: argparse.Namespace
) -> tuple[list[KeyRecord], list[KeyRecord] | None]:
    """The zone's first KSK and ZSK (made now, or already there); None where the
    founding ceremony makes them."""
    engine = open_signer_db(settings.signer_db_url)
    try:
        records = list(
            KeyManager(engine, None, settings.policy, clock, origin=settings.origin).key_records()
        )
        if records:
            return [], records
        required = load_ceremony_settings(settings).required
        if any(op in required for op in FOUNDING_OPERATIONS):
            return [], None
        store = _open_token(settings)
        try:
            protection = key_protection(
                store, settings.policy.name, args.accept_unenforced_key_protection
            )
            audit.record(
                EventType.HSM_INITIALIZED,
                actor=operator_actor(),
                backend=settings.keystore.backend,
                home=str(settings.home),
                key_protection=protection,
            )
            manager = KeyManager(engine, store, settings.policy, clock, origin=settings.origin,
                                 recorder=audit.record, actor=operator_actor())  # fmt: skip
            created = manager.bootstrap("tldsec init --existing")
        finally:
            store.close()
        return created, created
    finally:
        engine.dispose()


def _open_token(settings: Settings) -> KeyStore:
    ks = settings.keystore
    try:
        return open_keystore(settings.keystore_spec())
    except KeyStoreUnavailable as exc:
        if ks.backend != "pkcs11":
            raise
        raise KeyStoreUnavailable(
            f"{exc} ([keystore] token_label {ks.token_label!r} and module in "
            f"{settings.source}): initialise the token first with the vendor's tools "
            "(SoftHSM2: softhsm2-util --init-token --free --label LABEL), or correct the label"
        ) from exc


def _describe(keys: list[KeyRecord], now: datetime) -> str:
    parts = []
    for key in keys:
        state = key.state_at(now)
        parts.append(
            f"{key.role.value.upper()} {key.bits}-bit tag {key.key_tag} "
            f"({state.value if state else 'generated'})"
        )
    return ", ".join(parts)


def _next_steps(settings: Settings, keys: list[KeyRecord] | None, created: list[KeyRecord]) -> None:
    from tldsec.cli.init import BACKUP_NEXT

    if settings.keystore.pin_source == SECURITY_OFFICER:
        print(
            "  the HSM user PIN is the Security Officer's: 'tldsec serve' starts locked "
            "until 'tldsec hsm activate'"
        )
    if keys is None:
        print(
            "next: enrol the trusted people (tldsec ceremony enrol), then the founding "
            "ceremony makes the roster and the first keys (tldsec ceremony found)"
        )
        return
    waiting = [k for k in keys if k.backed_up is None]
    if settings.policy.backup_before_use and waiting:
        print(BACKUP_NEXT)
    else:
        print(
            "next: 'tldsec cycle' signs and publishes the zone; 'tldsec keys export-ds' "
            "gives the DS to submit to the parent"
        )
