"""KeyManager on a SQLite signer database with an in-memory key store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.rdata
import pytest
from sqlalchemy import Engine, inspect

from tests.keys.conftest import T0
from tldsec.clock import FakeClock
from tldsec.errors import ConfigError, KeyManagementError
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.keys.database import open_signer_db
from tldsec.keys.service import KeyManager
from tldsec.keys.state import DsState, KeyEvent, KeyState, Role
from tldsec.policy import Policy

DAY = timedelta(days=1)


class Recorded:
    """A recorder that keeps what it is given (the shape of audit.record)."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, event: str, *, actor: str, **details: Any) -> None:
        self.entries.append((event, actor, details))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_signer_db(f"sqlite:///{tmp_path / 'signer.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def manager(engine: Engine, policy: Policy, clock: FakeClock, recorded: Recorded) -> KeyManager:
    return KeyManager(engine, MemoryKeyStore(), policy, clock, origin="example", recorder=recorded)


def test_the_schema_comes_from_the_signer_migrations(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"signer_meta", "signer_keys", "signer_key_events", "alembic_version_signer"} <= tables
    assert not any(t.startswith("registry") or t == "domain" for t in tables)


def test_bootstrap_stores_keys_and_every_transition_and_tells_the_recorder(
    manager: KeyManager, recorded: Recorded
) -> None:
    created = manager.bootstrap("tldsec init")
    assert [k.role for k in created] == [Role.KSK, Role.ZSK, Role.ZSK]
    keys = manager.key_records()
    assert {k.key_id for k in keys} == {k.key_id for k in created}
    ksk = next(k for k in keys if k.role is Role.KSK)
    assert ksk.state_at(T0) is KeyState.ACTIVE
    assert ksk.ds_state_at(T0) is DsState.SUBMITTED  # the initial DS needs submission
    history = manager.history()
    assert len(history) == 9
    assert all(h.actor == "component:key-manager" for h in history)
    assert history[0].transition.event is KeyEvent.GENERATED
    assert [e for e, _, _ in recorded.entries][:4] == [
        "key.generated",
        "key.published",
        "key.activated",
        "key.ds_submitted",
    ]
    assert recorded.entries[0][2]["key_event"] == "key.generated"
    assert recorded.entries[0][2]["zone"] == "example."
    with pytest.raises(KeyManagementError, match="already has keys"):
        manager.bootstrap("again")


def test_signing_config_and_ds_export(manager: KeyManager) -> None:
    manager.bootstrap("init")
    config = manager.signing_config()
    assert len(config.published) == 3
    assert len(config.dnskey_signers) == 1 and len(config.zone_signers) == 1
    (ds,) = manager.export_ds()
    ksk = next(k for k in manager.key_records() if k.role is Role.KSK)
    assert (ds.key_tag, ds.algorithm, ds.digest_type) == (ksk.key_tag, 8, 2)
    assert ds.zone_line().startswith(f"example. 86400 IN DS {ksk.key_tag} 8 2 ")
    assert "Digest Type: 2 (SHA-256)" in ds.iana_form()
    # The change request carries the DNSKEY the DS digests (IANA's form asks for both).
    dnskey = ds.iana_form().splitlines()[-1].removeprefix("DNSKEY:").strip()
    rd = dns.rdata.from_text("IN", "DNSKEY", dnskey)
    assert dns.dnssec.make_ds("example.", rd, "SHA256").digest == ds.digest
    assert ds.as_json()["dnskey"] == dnskey
    assert len(manager.export_ds(digest_types=(2, 4))) == 2


def test_a_zsk_rollover_through_the_database(manager: KeyManager, clock: FakeClock) -> None:
    manager.bootstrap("init")
    clock.advance(90 * DAY)
    made = manager.run_due()
    assert [t.event for t in made] == [
        KeyEvent.ACTIVATED,
        KeyEvent.RETIRED,
        KeyEvent.GENERATED,
        KeyEvent.PUBLISHED,
    ]
    assert manager.run_due() == []  # nothing more is due
    clock.advance(7 * DAY)
    assert [t.event for t in manager.run_due()] == [KeyEvent.REMOVED]
    assert len(manager.key_records()) == 4


def test_ds_seen_gate_and_refusals(manager: KeyManager, clock: FakeClock) -> None:
    manager.bootstrap("init")
    ksk = next(k for k in manager.key_records() if k.role is Role.KSK)
    gate = manager.plan().gates[0]
    assert gate.waiting_for.name == "ds-seen"
    clock.advance(2 * DAY)
    (tr,) = manager.ds_seen(str(ksk.key_tag), "seen in the root zone")
    assert tr.event is KeyEvent.DS_SEEN
    assert not manager.plan().gates
    with pytest.raises(KeyManagementError, match="already seen"):
        manager.ds_seen(ksk.key_id, "again")
    zsk = next(
        k
        for k in manager.key_records()
        if k.role is Role.ZSK and k.state_at(clock.now()) is KeyState.PUBLISHED
    )
    with pytest.raises(KeyManagementError, match="not active"):
        manager.request_rollover(Role.ZSK, "x", key_ref=zsk.key_id)
    # a refused operation leaves nothing behind
    assert len(manager.history()) == 10


def test_emergency_rollover_and_history_of_one_key(
    manager: KeyManager, clock: FakeClock, recorded: Recorded
) -> None:
    manager.bootstrap("init")
    clock.advance(10 * DAY)
    old = next(k for k in manager.key_records() if k.role is Role.ZSK and k.signs_at(clock.now()))
    preview = manager.emergency_preview(Role.ZSK)
    assert preview.compromised.key_id == old.key_id
    made = manager.emergency_rollover(Role.ZSK, "leaked backup")
    assert [t.event for t in made] == [
        KeyEvent.COMPROMISED,
        KeyEvent.ACTIVATED,
        KeyEvent.RETIRED,
        KeyEvent.GENERATED,
        KeyEvent.PUBLISHED,
    ]
    assert "key.emergency_rollover" in [e for e, _, _ in recorded.entries]
    events = [h.transition.event for h in manager.history(old.key_id)]
    assert events == [
        KeyEvent.GENERATED,
        KeyEvent.PUBLISHED,
        KeyEvent.ACTIVATED,
        KeyEvent.COMPROMISED,
        KeyEvent.RETIRED,
    ]


def test_generation_needs_the_key_store(engine: Engine, policy: Policy, clock: FakeClock) -> None:
    manager = KeyManager(engine, None, policy, clock, origin="example")
    with pytest.raises(KeyManagementError, match="no key store is open"):
        manager.bootstrap("init")
    assert manager.key_records() == ()


def test_a_database_of_another_zone_is_refused(
    engine: Engine, policy: Policy, clock: FakeClock, manager: KeyManager
) -> None:
    manager.bootstrap("init")
    other = KeyManager(engine, MemoryKeyStore(), policy, clock, origin="other")
    with pytest.raises(ConfigError, match=r"belongs to zone example\."):
        other.key_records()


def test_operations_before_bootstrap_are_refused(manager: KeyManager) -> None:
    with pytest.raises(KeyManagementError, match="run 'tldsec init' first"):
        manager.run_due()
    with pytest.raises(KeyManagementError, match="no active ksk"):
        manager.signing_config()


def test_a_failing_recorder_rolls_the_change_back(
    engine: Engine, policy: Policy, clock: FakeClock
) -> None:
    def broken(event: str, *, actor: str, **details: Any) -> None:
        raise KeyManagementError("audit log unavailable")

    manager = KeyManager(engine, MemoryKeyStore(), policy, clock, origin="example", recorder=broken)
    with pytest.raises(KeyManagementError, match="audit log unavailable"):
        manager.bootstrap("init")
    assert manager.key_records() == ()


def test_a_policy_algorithm_change_is_refused_before_any_key_is_made(
    engine: Engine, policy: Policy, clock: FakeClock
) -> None:
    """Issue 21: setting the policy to another algorithm made the next ZSK roll publish a
    key of it, and every later sign failed. The roll is refused, nothing is written, and
    the message says how to get out."""
    import dataclasses

    from tldsec.errors import PolicyError
    from tldsec.policy import Algorithm

    store = MemoryKeyStore()
    KeyManager(engine, store, policy, clock, origin="example").bootstrap("init")
    changed = dataclasses.replace(
        policy, zsk=dataclasses.replace(policy.zsk, algorithm=Algorithm.RSASHA512)
    )
    km = KeyManager(engine, store, changed, clock, origin="example")
    before = km.key_records()
    clock.advance(90 * DAY)  # the active ZSK's life ends: a successor is due
    with pytest.raises(PolicyError, match=r"restore \[zsk\] algorithm = 8"):
        km.run_due()
    with pytest.raises(PolicyError, match="algorithm rollover"):
        km.generate(Role.ZSK, "by hand")
    assert km.key_records() == before
    # With the zone's algorithm back, the roll goes on.
    assert KeyManager(engine, store, policy, clock, origin="example").run_due()
