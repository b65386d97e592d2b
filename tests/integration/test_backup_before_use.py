"""Backed up before use with a real SoftHSM2 token (DPS 5.2.4): under a policy with
``keystore.backup_before_use`` the first keys and the standby ZSK wait at the backup
gate until an archive under the SMK holds them; the cycle's automatic archive
(``[backup] smk``) writes and checks one, and they enter the zone in the same run."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fixtures.softhsm import SOFTHSM_SO_PIN
from tldsec.clock import FakeClock
from tldsec.cycle.open import automatic_backup
from tldsec.hsm.backup import Holder, KeyArchive, archive_name, split_smk, write_archive
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.hsm.smk import SMK_BYTES, officer_session
from tldsec.keys.database import open_signer_db
from tldsec.keys.service import KeyManager
from tldsec.keys.state import KeyEvent, KeyState, Role
from tldsec.policy import load_policy
from tldsec.settings import load_settings

T0 = datetime(2026, 12, 7, tzinfo=UTC)


def smk_in(spec: KeyStoreSpec, so_pin: str = SOFTHSM_SO_PIN) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    holders = [
        Holder(f"h{i}", Ed25519PrivateKey.generate().public_key().public_bytes_raw())
        for i in range(2)
    ]
    with officer_session(spec, so_pin) as officer:
        secret = officer.random(SMK_BYTES)
        check = split_smk(secret, holders, 2)[0].smk_check
        officer.install(secret, check)
    return check


def test_the_first_keys_and_the_standby_enter_the_zone_once_archived(
    softhsm_spec: KeyStoreSpec, tmp_path: Path
) -> None:
    check = smk_in(softhsm_spec)
    policy = dataclasses.replace(load_policy(), backup_before_use=True)
    clock = FakeClock(T0)
    archives: list[Path] = []
    with Pkcs11KeyStore(softhsm_spec) as store:

        def archive(key_ids: Sequence[str]) -> str:
            path = tmp_path / archive_name(clock.now(), key_ids)
            write_archive(store, check, path, clock.now(), key_ids)
            archives.append(path)
            return str(path)

        engine = open_signer_db(f"sqlite:///{tmp_path / 'signer.db'}")
        manual = KeyManager(engine, store, policy, clock, origin="example.")
        first = manual.bootstrap("init")
        assert {k.state_at(T0) for k in first} == {KeyState.GENERATED}
        assert {s.waiting_for.name for s in manual.plan().gates} == {"backup"}
        assert manual.run_due() == []  # nobody archives: the gate holds

        automatic = KeyManager(engine, store, policy, clock, origin="example.", backup=archive)
        made = automatic.run_due()
        keys = automatic.key_records()
        assert len(keys) == 3 and all(k.backed_up == T0 for k in keys)
        assert sorted(k.role for k in keys if k.signs_at(T0)) == [Role.KSK, Role.ZSK]
        standby = next(k for k in keys if k.state_at(T0) is KeyState.PUBLISHED)
        assert standby.role is Role.ZSK
        events = [t.event for t in made]
        assert events.count(KeyEvent.BACKED_UP) == 3
        assert events.index(KeyEvent.BACKED_UP) < events.index(KeyEvent.PUBLISHED)
        assert len(archives) == 2  # the first keys, then the standby made after them
        held = {
            a.key.key_id for p in archives for a in KeyArchive.from_json(p.read_text(), "a").keys
        }
        assert held == {k.key_id for k in keys}
        engine.dispose()


def test_the_cycle_archive_goes_to_the_homes_backup_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tldsec.cli.main import main

    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example"]) == 0
    settings = load_settings(home)
    assert automatic_backup(settings, None, FakeClock(T0)) is None  # nothing configured
    spec = settings.keystore_spec()
    check = smk_in(spec, (home / "so-pin").read_text().strip())
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[backup]\nsmk = "{check}"\n')
    settings = load_settings(home)
    with Pkcs11KeyStore(spec) as store:
        hook: Callable[[Sequence[str]], str] | None = automatic_backup(
            settings, store, FakeClock(T0)
        )
        assert hook is not None
        ids = [k.key_id for k in store.list_keys()]
        path = Path(hook(ids))
        assert path.parent == home / "backups" and path.stat().st_mode & 0o077 == 0
        assert {a.key.key_id for a in KeyArchive.from_json(path.read_text(), "a").keys} == set(ids)
