"""The registry on PostgreSQL where it differs from SQLite: the zone builder's snapshot is
REPEATABLE READ and read-only, and a domain row lock makes a second writer wait.

(Every registry, EPP and zone test also runs on PostgreSQL through ``registry_world_any``
and ``epp_any``; these are the PostgreSQL-only behaviours.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from tests.fixtures.registry import RegistryWorld
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.models import Domain, DsRecord
from tldsec.registry.objects import load_domain


@pytest.fixture
def pg(postgres_url: str) -> Iterator[RegistryWorld]:
    db = RegistryDatabase.from_url(postgres_url)
    db.upgrade()
    world = RegistryWorld(db)
    world.add_registrar("alpha")
    with db.write() as s:
        create_domain(s, world.tx("alpha"), DomainCreate("one.example", "auth-1"))
    yield world
    db.dispose()


def test_the_snapshot_does_not_see_later_commits_and_is_read_only(pg: RegistryWorld) -> None:
    with pg.db.snapshot() as snap:
        assert snap.scalar(select(func.count()).select_from(DsRecord)) == 0
        with pg.db.write() as s:
            update_domain(
                s,
                pg.tx("alpha"),
                DomainUpdate("one.example", ds_add=(DsData.of(1, 13, 2, "AB" * 32),)),
            )
        assert snap.scalar(select(func.count()).select_from(DsRecord)) == 0
        with pytest.raises(DBAPIError, match="read-only transaction"):
            snap.execute(text("DELETE FROM ds_record"))
    with pg.db.read() as s:
        assert s.scalar(select(func.count()).select_from(DsRecord)) == 1


def test_a_locked_domain_makes_the_second_writer_wait(pg: RegistryWorld) -> None:
    order: list[str] = []
    locked = threading.Event()

    def first() -> None:
        with pg.db.write() as s:
            load_domain(s, pg.tx("alpha"), "one.example")
            locked.set()
            time.sleep(0.5)
            order.append("first commits")

    thread = threading.Thread(target=first)
    thread.start()
    locked.wait(10)
    with pg.db.write() as s:
        load_domain(s, pg.tx("alpha"), "one.example")
        order.append("second has the lock")
    thread.join(10)
    assert order == ["first commits", "second has the lock"]
    with pg.db.read() as s:
        assert s.scalar(select(Domain.name)) == "one.example"
