"""The publication lease (decision 49): one holder at a time, a fencing token that grows
at every change of holder, a holder that stops before the database could hand the lease
on; and the SOA serial stays monotonic when two signers share the registry database.
Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests.fixtures.registry import ORIGIN, RegistryWorld
from tldsec.cycle.lease import LeaseTimes, PublicationLease
from tldsec.errors import ConfigError, LeaseLost
from tldsec.zone.serial import allocate_serial

SHORT = LeaseTimes(ttl=0.6, renew=0.2, margin=0.2)


class Ticks:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _wait_expired(lease: PublicationLease) -> None:
    """Until the database says the lease has expired (its clock, not ours)."""
    for _ in range(200):
        if not lease.read().live:
            return
        time.sleep(0.05)
    raise AssertionError(f"the lease never expired: {lease.read()}")


def test_one_holder_at_a_time_and_the_token_grows_at_each_change(
    registry_world_any: RegistryWorld,
) -> None:
    engine = registry_world_any.db.engine
    a = PublicationLease(engine, "site-a", SHORT, origin=ORIGIN)
    b = PublicationLease(engine, "site-b", SHORT, origin=ORIGIN)
    first = a.try_acquire()
    assert first is not None and first.token == 1
    assert b.try_acquire() is None  # live and not b's
    with pytest.raises(LeaseLost, match="does not hold the publication lease"):
        b.check()
    renewed = a.try_acquire()
    assert renewed is not None and renewed.token == 1  # a renewal keeps the token
    assert renewed.expires_ms >= first.expires_ms
    row = a.read()
    assert (row.holder, row.token, row.live) == ("site-a", 1, True)

    _wait_expired(a)
    taken = b.try_acquire()
    assert taken is not None and taken.token == 2
    assert a.try_acquire() is None  # the old holder cannot renew what b took
    with pytest.raises(LeaseLost):
        a.check()
    assert b.check().token == 2


def test_each_zone_has_its_own_lease_row_holder_and_token(
    registry_world_any: RegistryWorld,
) -> None:
    """Decision 57/65: one row per origin. Site A holding example. does not keep site B
    from shop.; a change of holder in one zone moves that zone's token only."""
    engine = registry_world_any.db.engine
    times = LeaseTimes(300, 10, 10)
    a_example = PublicationLease(engine, "site-a", times, origin="example.")
    b_example = PublicationLease(engine, "site-b", times, origin="EXAMPLE")
    b_shop = PublicationLease(engine, "site-b", times, origin="shop")
    a_shop = PublicationLease(engine, "site-a", times, origin="shop.")
    assert (a_example.try_acquire() or pytest.fail()).token == 1
    assert b_example.try_acquire() is None  # example. is site A's
    assert (b_shop.try_acquire() or pytest.fail()).token == 1  # shop. is free
    assert a_shop.try_acquire() is None
    a_example.release()
    assert (b_example.try_acquire() or pytest.fail()).token == 2  # example.'s token moved
    assert b_shop.read().token == 1 and b_shop.read().holder == "site-b"  # shop.'s did not
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT name, holder, token FROM publication_lease ORDER BY name")
        ).all()
    assert [tuple(r) for r in rows] == [("example.", "site-b", 2), ("shop.", "site-b", 1)]


def test_release_hands_the_lease_on_at_once(registry_world_any: RegistryWorld) -> None:
    engine = registry_world_any.db.engine
    a = PublicationLease(engine, "site-a", LeaseTimes(300, 10, 10), origin=ORIGIN)
    b = PublicationLease(engine, "site-b", LeaseTimes(300, 10, 10), origin=ORIGIN)
    assert a.try_acquire() is not None
    assert b.try_acquire() is None
    a.release()
    held = b.try_acquire()
    assert held is not None and held.token == 2
    a.release()  # not the holder any more: changes nothing
    assert b.read().live and b.read().holder == "site-b"


def test_the_holder_stops_before_the_database_could_hand_the_lease_on(
    registry_world_any: RegistryWorld,
) -> None:
    ticks = Ticks()
    times = LeaseTimes(ttl=30, renew=10, margin=10)
    lease = PublicationLease(
        registry_world_any.db.engine, "site-a", times, origin=ORIGIN, monotonic=ticks
    )
    held = lease.try_acquire()
    assert held is not None
    assert held.deadline == ticks.now + 30 - 10  # from before the statement, minus margin
    ticks.now += 19.9
    assert lease.check().token == held.token
    ticks.now += 0.1  # 10 s before the database lets anyone else take it
    assert lease.held() is None
    with pytest.raises(LeaseLost, match="was not renewed in time"):
        lease.check()
    again = lease.try_acquire()  # a renewal (still ours) moves the deadline on
    assert again is not None and again.token == held.token
    assert lease.check() == again


def test_racing_signers_never_both_win(registry_world_any: RegistryWorld) -> None:
    engine = registry_world_any.db.engine
    PublicationLease(engine, "warm-up", SHORT, origin=ORIGIN).read()
    leases = [
        PublicationLease(engine, f"site-{i}", LeaseTimes(300, 10, 10), origin=ORIGIN)
        for i in range(6)
    ]
    barrier = threading.Barrier(len(leases))
    won: list[str] = []
    errors: list[BaseException] = []

    def race(lease: PublicationLease) -> None:
        barrier.wait()
        try:
            if lease.try_acquire() is not None:
                won.append(lease.holder)
        except Exception as exc:  # SQLite: "database is locked" counts as a loss
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(lease,)) for lease in leases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1, (won, errors)
    assert leases[0].read().holder == won[0]
    assert leases[0].read().token == 1


def test_times_that_leave_no_room_to_renew_are_refused() -> None:
    with pytest.raises(ConfigError, match="must be less than ttl_seconds"):
        LeaseTimes(ttl=20, renew=10, margin=10)


def test_serials_stay_monotonic_when_two_signers_share_the_registry(
    registry_world_any: RegistryWorld,
) -> None:
    """Two signers (threads with their own sessions) allocating at once from the same
    database: never a repeat, and in commit order always increasing (RFC 1982)."""
    db = registry_world_any.db
    now = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)  # the same second for both: worst case
    with db.write() as s:
        allocate_serial(s, 1, now)
    committed: list[int] = []
    lock = threading.Lock()

    def signer() -> None:
        for _ in range(25):
            for _attempt in range(50):
                try:
                    with db.write() as s:
                        serial = allocate_serial(s, 1, now)
                        with lock:  # recorded in commit order: the row lock is held
                            committed.append(serial)
                    break
                except Exception:  # SQLite busy: try again, as the cycle would
                    time.sleep(0.01)

    threads = [threading.Thread(target=signer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(committed) == 50
    assert committed == sorted(committed) and len(set(committed)) == 50
