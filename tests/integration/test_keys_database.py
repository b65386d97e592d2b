"""The key manager on PostgreSQL with SoftHSM2 keys, and the signer schema on both databases."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from tldsec.clock import FakeClock
from tldsec.errors import KeyManagementError
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.keys.database import open_signer_db
from tldsec.keys.models import SignerBase
from tldsec.keys.service import KeyManager
from tldsec.keys.state import KeyEvent, KeyState, Role
from tldsec.policy import Policy, load_policy

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = open_signer_db(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def policy() -> Policy:
    # The rollover through the database is tested here; the backup gate the DPS adds
    # (DPS 5.2.4) in tests/integration/test_backup_before_use.py and the CLI test.
    return dataclasses.replace(load_policy(), backup_before_use=False)


def _no_drift(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": "alembic_version_signer"})
        diffs = compare_metadata(context, SignerBase.metadata)
    assert diffs == []


@pytest.mark.postgres
def test_the_migrations_build_exactly_the_models_on_postgresql(pg_engine: Engine) -> None:
    _no_drift(pg_engine)


def test_the_migrations_build_exactly_the_models_on_sqlite(tmp_path: Path) -> None:
    engine = open_signer_db(f"sqlite:///{tmp_path / 'signer.db'}")
    try:
        _no_drift(engine)
        open_signer_db(f"sqlite:///{tmp_path / 'signer.db'}").dispose()  # idempotent
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_zsk_and_ksk_rollover_on_postgresql_with_softhsm2_keys(
    pg_engine: Engine, softhsm_spec: KeyStoreSpec, policy: Policy
) -> None:
    clock = FakeClock(T0)
    store = Pkcs11KeyStore(softhsm_spec)
    try:
        km = KeyManager(pg_engine, store, policy, clock, origin="example")
        created = km.bootstrap("init")
        for key in created:
            info = store.get_key(key.key_id)  # every key record is a key in the HSM
            assert info.public_key == key.public_key
        assert {store.get_key(k.key_id).bits for k in created} == {2048, 1024}
        ksk = created[0]
        clock.advance(2 * DAY)
        km.ds_seen(ksk.key_id, "in the root zone")
        clock.set(T0 + 335 * DAY)
        km.run_due()  # ZSK rolls at 90/180/270 days happen here in one go, then the KSK
        new_ksk = next(
            k
            for k in km.key_records()
            if k.role is Role.KSK and k.state_at(clock.now()) is KeyState.PUBLISHED
        )
        clock.advance(DAY)
        assert [t.event for t in km.run_due() if t.role is Role.KSK] == [KeyEvent.DS_SUBMITTED]
        clock.advance(2 * DAY)
        km.ds_seen(str(new_ksk.key_tag), "IANA confirmed")
        clock.set(T0 + 365 * DAY)
        made = [t for t in km.run_due() if t.role is Role.KSK]
        assert [(t.event, t.key_id) for t in made] == [
            (KeyEvent.ACTIVATED, new_ksk.key_id),
            (KeyEvent.RETIRED, ksk.key_id),
        ]
        config = km.signing_config()
        assert [k.key_id for k in config.dnskey_signers] == [new_ksk.key_id]
        times = [h.transition.time for h in km.history()]
        assert times == sorted(times)
    finally:
        store.close()


@pytest.mark.postgres
def test_two_key_managers_never_act_twice(
    pg_engine: Engine, softhsm_spec: KeyStoreSpec, policy: Policy
) -> None:
    clock = FakeClock(T0)
    store = Pkcs11KeyStore(softhsm_spec)
    try:
        KeyManager(pg_engine, store, policy, clock, origin="example").bootstrap("init")
    finally:
        store.close()
    clock.set(T0 + 90 * DAY)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        s = Pkcs11KeyStore(softhsm_spec)
        try:
            km = KeyManager(pg_engine, s, policy, clock, origin="example")
            results.append(len(km.run_due()))
        except KeyManagementError as exc:
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [0, 4]  # one did the switch (+ new standby), the other nothing
