"""The EPP server on a two-site PostgreSQL pair (decision 50): a libpq multi-host URL
with ``target_session_attrs=read-write``, a commit cut off by the primary's death or by
its connection's end, settled through a new connection before the registrar hears 1000
or 2400. Real clusters (tests/service/pgcluster.py): site A's primary and site B's
synchronous standby; commits are held by stopping the standby (the primary then waits
for it in COMMIT, as it does for a slow or cut link)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from sqlalchemy import select

from tests.fixtures.epp import RunningServer, TlsFiles
from tests.fixtures.registry import RegistryWorld
from tests.service.pgcluster import PgPair
from tests.system.sites import ds, open_world
from tldsec.epp.client import Response
from tldsec.epp.server import ServerLimits
from tldsec.registry import zonedigest
from tldsec.registry.models import Domain, DsRecord, EppTransaction


@pytest.fixture
def pair() -> Iterator[PgPair]:
    pair = PgPair.create()
    try:
        yield pair
    finally:
        pair.close()


@pytest.fixture
def running(pair: PgPair, tls_files: TlsFiles) -> Iterator[RunningServer]:
    world = open_world(pair, 2)
    server = RunningServer(world, tls_files, ServerLimits(workers=4, idle_timeout=120))
    server.dispatcher.settle_seconds = 60
    yield server
    server.stop()
    world.db.dispose()


def wait_for_commit_waiting(pair: PgPair, timeout: float = 30) -> int:
    """The backend pid of the one session waiting for the synchronous standby in COMMIT."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = pair.primary.psql("SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'")
        if pid:
            return int(pid)
        time.sleep(0.05)
    raise AssertionError("no commit waited for the standby")


def present(world: RegistryWorld, name: str) -> set[int]:
    with world.db.read() as s:
        domain_id = s.scalar(select(Domain.id).where(Domain.name == name))
        return set(s.scalars(select(DsRecord.key_tag).where(DsRecord.domain_id == domain_id)))


def logged_codes(world: RegistryWorld) -> list[int]:
    with world.db.read() as s:
        query = select(EppTransaction.result_code).where(EppTransaction.command == "domain:update")
        return list(s.scalars(query))


def ledger_consistent(world: RegistryWorld) -> None:
    with world.db.read() as s:
        assert zonedigest.differing(s, zone=(1, "example.")) == ()


def test_commit_cut_by_the_primary_s_death_is_settled_not_made(
    pair: PgPair, running: RunningServer
) -> None:
    """COMMIT sent, the primary dies before the standby has it: B, promoted, does not
    have it, and the registrar hears 2400 only once B settled it; then the same session
    makes the change on B. (Before: 2400 "nothing was changed" at once, unproven.)"""
    with running.logged_in() as client, ThreadPoolExecutor(1) as pool:
        assert client.domain_update_ds("d0.example", add=(ds(1),)).code == 1000
        pair.standby.stop()  # A's commits now wait in COMMIT for B
        answer: Future[Response] = pool.submit(client.domain_update_ds, "d0.example", add=(ds(2),))
        wait_for_commit_waiting(pair)
        pair.primary.kill()
        time.sleep(1)
        assert not answer.done()  # settling: no primary yet
        pair.standby.start()
        pair.standby.promote()
        response = answer.result(90)
        assert response.code == 2400, response.message
        assert "was not made" in response.message
        assert present(running.world, "d0.example") == {1}
        # The session goes on, on B.
        again = client.domain_update_ds("d0.example", add=(ds(2),))
        assert again.code == 1000, again.message
    assert present(running.world, "d0.example") == {1, 2}
    assert sorted(logged_codes(running.world)) == [1000, 1000, 2400]
    ledger_consistent(running.world)


def test_commit_cut_after_it_committed_is_settled_made(
    pair: PgPair, running: RunningServer
) -> None:
    """The connection ends while COMMIT waits for the standby, after the primary wrote the
    commit (PostgreSQL then keeps it): settled through a new connection, the registrar
    hears 1000, since the change is there. (Before: 2400 "nothing was changed" for a
    change that was made.)"""
    with running.logged_in() as client, ThreadPoolExecutor(1) as pool:
        pair.standby.stop()
        answer = pool.submit(client.domain_update_ds, "d1.example", add=(ds(7),))
        pid = wait_for_commit_waiting(pair)
        pair.primary.psql(f"SELECT pg_terminate_backend({pid})")
        response = answer.result(90)
        assert response.code == 1000, response.message
    assert present(running.world, "d1.example") == {7}
    assert logged_codes(running.world) == [1000]
    ledger_consistent(running.world)
