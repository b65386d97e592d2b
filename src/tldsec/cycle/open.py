"""Building a ``Cycle`` from a home: the ``[cycle]`` table, the store, the databases,
the key store and the audit log, opened once by an entry point and closed after."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tldsec.clock import Clock
from tldsec.cycle.guard import GuardSettings
from tldsec.cycle.run import Cycle
from tldsec.distribute.config import home_origins, load_distribute_settings
from tldsec.distribute.store import ZoneStore
from tldsec.errors import ConfigError
from tldsec.hsm.base import KeyStore
from tldsec.keys.service import Backup, KeyManager, signer_zone_id
from tldsec.keys.zonestagger import stagger_for
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.zonerows import zone_id_of
from tldsec.settings import Settings
from tldsec.verify.options import VerifyOptions
from tldsec.zonehome import STORE, legacy_entries

DEFAULT_STORE_DIR = "zones/{zone}/dist"  # [distribute] store_dir's default (decision 57)


@dataclass(frozen=True, slots=True)
class CycleSettings:
    """The ``[cycle]`` table of ``tldsec.toml``.

    [cycle]
    workers = 0            # signing processes; 0: one per core
    change_driven = true   # a registry change starts a cycle after the debounce
    check_seconds = 2      # how often ``tldsec serve`` looks for changes
    timeout_seconds = 2400 # a cycle process still running then is stopped (DPS 3.5.2)
    max_delegation_loss = 0.01  # the collapse guards (``cycle.guard``)
    """

    workers: int = 0
    change_driven: bool = True
    check_seconds: float = 2.0
    timeout_seconds: float = 2400.0
    guards: GuardSettings = field(default_factory=GuardSettings)

    @property
    def signing_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


def load_cycle_settings(settings: Settings) -> CycleSettings:
    """The ``[cycle]`` table of the settings (checked by ``settings.tables.CycleTable``)."""
    table = settings.config.cycle
    return CycleSettings(
        workers=table.workers,
        change_driven=table.change_driven,
        check_seconds=table.check_seconds,
        timeout_seconds=table.timeout_seconds,
        guards=GuardSettings(
            max_delegation_loss=table.max_delegation_loss,
            max_ds_loss=table.max_ds_loss,
            max_size_change=table.max_size_change,
            min_count=table.guard_min_count,
            min_bytes=table.guard_min_bytes,
        ),
    )


def open_store(settings: Settings) -> ZoneStore:
    """The distribution store of the settings' zone (``[distribute] store_dir``, its
    ``{zone}`` the zone's directory: ``zones/example/dist``, decisions 57 and 63).
    Refused in a home whose files are still in the layout before decision 57."""
    dist = load_distribute_settings(settings)
    store = dist.store_for(settings.origin)
    refuse_old_layout(settings, store)
    return ZoneStore(store, settings.origin, dist.keep)


def store_moves(settings: Settings, store: Path) -> bool:
    """Whether the zone's store is its ``zones/NAME/dist`` (so the old ``zones/dist``
    moves there); a store named outside the zone stays where it is."""
    return store == settings.zone_dir / STORE


def old_default_store(settings: Settings) -> Path | None:
    """The store where ``[distribute] store_dir``'s default put it before decision 57
    (``zones/dist`` in the home), if the default is still used and it is there."""
    if settings.config.distribute.store_dir != DEFAULT_STORE_DIR:
        return None
    old = settings.home / "zones" / STORE
    return old if old.is_dir() and (old / "current").exists() else None


def refuse_old_layout(settings: Settings, store: Path) -> None:
    """A home of one zone that still keeps its cycle files directly in ``zones/`` (made
    before decision 57) is moved by ``tldsec db upgrade``; a cycle run before it would
    start the zone afresh in ``zones/NAME/`` and sign it anew."""
    if len(home_origins(settings)) != 1:
        return  # a home of several zones was made with the new layout
    moves = store_moves(settings, store)
    left = legacy_entries(settings.zones_dir, settings.origin, with_store=moves)
    old_store = old_default_store(settings)
    if old_store is not None and old_store.parent != settings.zones_dir and not store.exists():
        left.append(str(old_store))
    if left:
        raise ConfigError(
            f"{', '.join(left)} still in {settings.zones_dir}: run 'tldsec db upgrade' "
            f"(it moves them into {settings.zone_dir}, decision 57)"
        )


@contextlib.contextmanager
def open_cycle(
    settings: Settings,
    clock: Clock,
    *,
    keystore: bool = True,
    audit: bool = True,
    workers: int | None = None,
    accept: str | None = None,
    operator: str = "person:unknown",
) -> Iterator[Cycle]:
    """A ``Cycle`` on the home's databases, key store, audit log and store; closed after.

    ``keystore=False`` opens no HSM session: enough for ``pending`` (what ``tldsec
    serve`` asks every few seconds), not for running a cycle.
    """
    from tldsec.audit.config import open_audit_log, record_restored_tokens
    from tldsec.audit.log import SELF
    from tldsec.cycle.replicas import gates_for, open_hsms
    from tldsec.hsm.open import open_keystore
    from tldsec.keys.config import load_key_settings
    from tldsec.keys.database import open_signer_db

    cycle = load_cycle_settings(settings)
    with contextlib.ExitStack() as stack:
        registry = RegistryDatabase.from_url(settings.registry_db_url)
        stack.callback(registry.dispose)
        if not registry.is_current():
            raise ConfigError("the registry database is not up to date: run 'tldsec db upgrade'")
        with registry.read() as session:
            zone_id = zone_id_of(session, settings.origin)  # its rows only, decision 57
        audit_log = open_audit_log(settings, clock) if audit else None
        if audit_log is not None:
            stack.callback(audit_log.close)
        store_ks = open_keystore(settings.keystore_spec()) if keystore else None
        if store_ks is not None:
            stack.callback(store_ks.close)
        if audit_log is not None:  # a token record the key store's opening restored
            record_restored_tokens(audit_log.record, SELF)
        engine = open_signer_db(settings.signer_db_url)
        stack.callback(engine.dispose)
        signer_id = signer_zone_id(engine, settings.origin)
        manager = KeyManager(
            engine,
            store_ks,
            settings.policy,
            clock,
            origin=settings.origin,
            timing=load_key_settings(settings).timing(settings.policy),
            recorder=audit_log.record if audit_log is not None else None,
            backup=automatic_backup(settings, store_ks, clock),
            gates=gates_for(settings),
            zone_id=signer_id,  # the zone's key steps only (decision 62)
            stagger=stagger_for(settings, engine, clock),  # KSK rolls apart (decision 68)
        )
        # Every HSM, for the replica proof each cycle makes before its key steps.
        hsms = (
            stack.enter_context(open_hsms(settings, store_ks))
            if store_ks is not None and settings.keystore.replicas
            else None
        )
        yield Cycle(
            settings=settings,
            clock=clock,
            registry=registry,
            keys=manager,
            keystore=store_ks,
            store=open_store(settings),
            verify=VerifyOptions.from_settings(settings.policy, settings.verify),
            zone_id=zone_id,
            opener=open_keystore,
            recorder=audit_log.record if audit_log is not None else None,
            checkpoint=audit_log.checkpoint if audit_log is not None else None,
            workers=workers or cycle.signing_workers,
            guards=cycle.guards,
            accept=accept,
            operator=operator,
            audit=audit_log,
            hsms=hsms,
        )


def automatic_backup(settings: Settings, store: KeyStore | None, clock: Clock) -> Backup | None:
    """The archive a cycle writes for the keys it generates (``[backup] smk``; DPS 5.2.4):
    in ``[backup] directory``, one new file per archive, checked as written."""
    from tldsec.hsm.backup import archive_name, write_archive
    from tldsec.hsm.pkcs11 import Pkcs11KeyStore

    table = settings.config.backup
    if not table.smk or not isinstance(store, Pkcs11KeyStore):
        return None
    smk = table.smk
    directory = Path(table.directory)
    if not directory.is_absolute():
        directory = settings.home / directory

    def archive(key_ids: Sequence[str]) -> str:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        now = clock.now()
        path = directory / archive_name(now, key_ids)
        write_archive(store, smk, path, now, key_ids)
        return str(path)

    return archive
