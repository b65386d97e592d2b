"""``AuditLog.record_if``: the guard and the append are one transaction under the
writer's lock, so of two writers claiming one thing (a ceremony's single use, DPS 5.2.2)
exactly one succeeds, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.audit.conftest import LogFactory
from tldsec.audit.entry import Entry
from tldsec.audit.schema import upgrade
from tldsec.db.base import make_engine
from tldsec.errors import CeremonyRefused


def claim_twice_at_once(engines: tuple[Engine, Engine], make_log: LogFactory) -> list[str]:
    """Writer A takes the lock and waits inside its guard until writer B has finished its
    own claim (or a second has passed): without the lock B would pass its guard first
    and A, holding a stale view, would fail or pass too."""
    a_guarding, b_done = threading.Event(), threading.Event()
    results: dict[str, str] = {}

    def once(name: str) -> object:
        def guard(earlier: list[Entry]) -> None:
            if name == "a":
                a_guarding.set()
                b_done.wait(timeout=1)
            if any(e.details.get("ceremony") == "c-1" for e in earlier):
                raise CeremonyRefused("c-1 was already used")

        return guard

    def writer(name: str, engine: Engine) -> None:
        log = make_log(engine)
        if name == "b":
            a_guarding.wait(timeout=10)
        try:
            log.record_if("ceremony.completed", once(name), actor="person:op", ceremony="c-1")  # type: ignore[arg-type]
            results[name] = "used"
        except CeremonyRefused as exc:
            results[name] = str(exc)
        except Exception as exc:  # what a writer without the lock meets
            results[name] = f"{type(exc).__name__}: {exc}"
        finally:
            if name == "b":
                b_done.set()

    threads = [
        threading.Thread(target=writer, args=(n, e)) for n, e in zip("ab", engines, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return [results["a"], results["b"]]


def test_sqlite_one_claim_of_two_concurrent_ones(
    audit_engine: Engine, make_log: LogFactory
) -> None:
    other = make_engine(str(audit_engine.url))
    try:
        assert claim_twice_at_once((audit_engine, other), make_log) == [
            "used",
            "c-1 was already used",
        ]
    finally:
        other.dispose()


@pytest.fixture
def pg_engines(postgres_url: str) -> Iterator[tuple[Engine, Engine]]:
    first, second = make_engine(postgres_url), make_engine(postgres_url)
    upgrade(first)
    yield first, second
    first.dispose()
    second.dispose()


@pytest.mark.postgres
def test_postgresql_one_claim_of_two_concurrent_ones(
    pg_engines: tuple[Engine, Engine], make_log: LogFactory
) -> None:
    assert claim_twice_at_once(pg_engines, make_log) == ["used", "c-1 was already used"]
    with pg_engines[0].connect() as conn:
        used = conn.exec_driver_sql(
            "SELECT count(*) FROM audit_entries WHERE event = 'ceremony.completed'"
        ).scalar_one()
    assert used == 1
