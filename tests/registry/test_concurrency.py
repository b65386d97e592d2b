"""Concurrent requests are safe: two registrars creating one name, exactly one wins; two
DS additions racing past the per-domain maximum, exactly one lands; a DS update that
waited for another reads what that one committed (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import text

from tests.fixtures.registry import RegistryWorld
from tldsec.errors import DsRejected, ObjectExists, RegistryError
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import DomainCreate, create_domain, domain_info
from tldsec.registry.ds_rules import DsData
from tldsec.registry.ds_update import DsUpdate, update_ds


def race(*actions: Callable[[], None]) -> list[BaseException | None]:
    """Run the actions in threads released at the same moment; their outcomes."""
    barrier = threading.Barrier(len(actions))
    outcomes: list[BaseException | None] = [None] * len(actions)

    def run(i: int, action: Callable[[], None]) -> None:
        barrier.wait()
        try:
            action()
        except RegistryError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def test_two_registrars_creating_the_same_name(registry_world_any: RegistryWorld) -> None:
    world = registry_world_any
    world.add_registrar("alpha")
    world.add_registrar("beta")
    for i in range(4):
        name = f"race{i}.example"

        def create(client: str, name: str = name) -> Callable[[], None]:
            def action() -> None:
                with world.db.write() as s:
                    create_domain(s, world.tx(client), DomainCreate(name, "auth-1"))

            return action

        outcomes = race(create("alpha"), create("beta"))
        assert sorted(type(o).__name__ for o in outcomes) == ["NoneType", "ObjectExists"]
        winner = "alpha" if outcomes[0] is None else "beta"
        assert isinstance(outcomes[1 if winner == "alpha" else 0], ObjectExists)
        with world.db.read() as s:
            assert domain_info(s, world.tx(winner), name).sponsor == winner


def test_racing_ds_additions_respect_the_maximum(registry_world_any: RegistryWorld) -> None:
    world = registry_world_any
    world.add_registrar("alpha")
    first = DsData.of(1, 13, 2, "01" * 32)
    with world.db.write() as s:
        create_domain(s, world.tx("alpha"), DomainCreate("one.example", "auth-1", ds=(first,)))

    def add(base: int) -> Callable[[], None]:
        batch = tuple(DsData.of(base + i, 13, 2, f"{base + i:02x}" * 32) for i in range(4))

        def action() -> None:
            with world.db.write() as s:
                update_domain(s, world.tx("alpha"), DomainUpdate("one.example", ds_add=batch))

        return action

    outcomes = race(add(10), add(20))
    assert sorted(type(o).__name__ for o in outcomes) == ["DsRejected", "NoneType"]
    assert any(isinstance(o, DsRejected) for o in outcomes)
    with world.db.read() as s:
        assert len(domain_info(s, world.tx("alpha"), "one.example").ds) == 5


def test_a_ds_update_waiting_for_the_lock_sees_what_the_holder_committed(
    registry_world_any: RegistryWorld,
) -> None:
    """The hot path reads the DS after it has the domain's lock, never before: an update
    that waited must count the records the holder added (here: the ninth is refused)."""
    world = registry_world_any
    world.add_registrar("alpha")
    with world.db.write() as s:
        create_domain(s, world.tx("alpha"), DomainCreate("wait.example", "auth-1"))
    holder_batch = tuple(DsData.of(100 + i, 13, 2, f"{i:02x}" * 32) for i in range(8))
    waiter_ds = DsData.of(999, 13, 2, "ff" * 32)
    outcome: list[BaseException | None] = []

    def waiter() -> None:
        try:
            with world.db.write() as s:
                update_ds(s, world.tx("alpha"), DsUpdate("wait.example", add=(waiter_ds,)))
            outcome.append(None)
        except RegistryError as exc:
            outcome.append(exc)

    with world.db.write() as s:
        assert update_ds(s, world.tx("alpha"), DsUpdate("wait.example", add=holder_batch))
        thread = threading.Thread(target=waiter)
        thread.start()
        wait_until_blocked(world, thread)
    thread.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], DsRejected)
    with world.db.read() as s:
        assert set(domain_info(s, world.tx("alpha"), "wait.example").ds) == set(holder_batch)


def wait_until_blocked(world: RegistryWorld, thread: threading.Thread) -> None:
    """Return once ``thread`` waits for a lock (PostgreSQL), or has had time to (SQLite:
    its writer waits on the database lock before reading anything)."""
    if world.db.is_sqlite:
        thread.join(timeout=0.5)
        return
    for _ in range(600):
        with world.db.engine.connect() as conn:
            waiting = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            ).scalar()
        if waiting:
            return
        thread.join(timeout=0.05)
    raise AssertionError("the second update never waited for the domain's lock")
