"""The writer: one-line records, gap-free numbers, checkpoints, clock anomalies, append-only."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from tests.audit.conftest import LogFactory
from tldsec.audit.chain import VerifyReport, verify_chain
from tldsec.audit.clockstatus import FixedClockStatus, SyncState
from tldsec.audit.entry import GENESIS_HASH
from tldsec.audit.events import Actor, EventType
from tldsec.audit.log import AuditLog
from tldsec.audit.query import iter_entries, load_checkpoints
from tldsec.audit.signing import Ed25519Signer
from tldsec.audit.sources import database_input
from tldsec.clock import FakeClock
from tldsec.errors import AuditError


def verify_db(engine: Engine, key: Ed25519Signer) -> VerifyReport:
    source = database_input(engine)
    return verify_chain(
        source.entries,
        keys={key.key_id: key.public_key()},
        checkpoints=source.checkpoints,
        anchor=source.anchor,
        head=source.head,
        complete=source.complete,
    )


def events(engine: Engine) -> list[str]:
    return [e.event for e in iter_entries(engine)]


def test_one_line_records_an_entry_with_the_catalogue_level(
    audit_log: AuditLog, audit_engine: Engine, audit_key: Ed25519Signer, clock: FakeClock
) -> None:
    entry = audit_log.record("key.generated", actor="component:signer", key_id="ab12", bits=2048)
    assert (entry.seq, entry.prev_hash, entry.level) == (1, GENESIS_HASH, "notice")
    assert (entry.actor, entry.event, entry.time) == (
        "component:signer",
        "key.generated",
        clock.now(),
    )
    assert entry.details == {"key_id": "ab12", "bits": 2048}
    assert verify_db(audit_engine, audit_key).ok


def test_enum_events_actor_values_and_explicit_levels_are_accepted(audit_log: AuditLog) -> None:
    entry = audit_log.record(
        EventType.ACCESS_LOGIN_FAILED, actor=Actor.registrar("reg-1"), level="error", channel="epp"
    )
    assert (entry.event, entry.actor, entry.level) == (
        "access.login_failed",
        "registrar:reg-1",
        "error",
    )


def test_numbers_are_consecutive_and_each_entry_commits_to_the_last(
    audit_log: AuditLog, audit_engine: Engine, audit_key: Ed25519Signer
) -> None:
    written = [audit_log.record("access.login", actor=f"person:p{i}") for i in range(30)]
    assert [e.seq for e in written] == list(range(1, 31))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(written))
    assert list(iter_entries(audit_engine)) == written
    assert audit_log.head().seq == 30
    assert verify_db(audit_engine, audit_key).ok


@pytest.mark.parametrize(
    ("event", "actor", "details", "message"),
    [
        ("key.invented", "component:signer", {}, "unknown audit event type 'key.invented'"),
        ("key.generated", "alice", {}, "must be person:NAME"),
        ("key.generated", "robot:r2", {}, "actor kind 'robot'"),
        ("key.generated", "person:a b", {}, "actor name"),
        ("key.generated", "person:alice", {"ratio": 0.5}, "float"),
    ],
)
def test_invalid_entries_are_refused_and_use_no_number(
    audit_log: AuditLog, event: str, actor: str, details: dict[str, object], message: str
) -> None:
    with pytest.raises(AuditError, match=message):
        audit_log.record(event, actor=actor, **details)
    assert audit_log.head().seq == 0
    assert audit_log.record("access.login", actor="person:alice").seq == 1


def test_record_many_appends_in_order_all_or_none(audit_log: AuditLog) -> None:
    """Decision 56: several entries in one append; one refused entry refuses them all."""
    with pytest.raises(AuditError):
        audit_log.record_many(
            [("access.login", "person:alice", {}), ("no.such.event", "person:alice", {})]
        )
    assert audit_log.head().seq == 0
    entries = audit_log.record_many(
        [
            ("ds.received", "registrar:r1", {"domain": "a.example"}),
            (EventType.DS_ACCEPTED, Actor.registrar("r1"), {"domain": "a.example"}),
        ]
    )
    assert [(e.seq, e.event) for e in entries] == [(1, "ds.received"), (2, "ds.accepted")]
    assert entries[1].prev_hash == entries[0].hash
    assert audit_log.record_many([]) == []


def test_an_unknown_level_is_refused(audit_log: AuditLog) -> None:
    with pytest.raises(AuditError, match="unknown level 'loud'"):
        audit_log.record("access.login", actor="person:alice", level="loud")


def test_a_failed_write_leaves_no_gap(
    audit_log: AuditLog, audit_engine: Engine, audit_key: Ed25519Signer
) -> None:
    audit_log.record("access.login", actor="person:a")
    with audit_engine.begin() as conn:  # the database refuses one particular insert
        conn.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_entries WHEN NEW.actor = 'person:x' "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        )
    with pytest.raises(AuditError, match="disk full"):
        audit_log.record("access.login", actor="person:x")
    assert audit_log.record("access.login", actor="person:b").seq == 2
    assert verify_db(audit_engine, audit_key).ok


class FailingSigner(Ed25519Signer):
    def sign(self, message: bytes) -> bytes:
        raise AuditError("the HSM is gone")


def test_an_unsigned_checkpoint_does_not_stop_the_log(
    audit_engine: Engine, clock: FakeClock, audit_key: Ed25519Signer
) -> None:
    broken = AuditLog(audit_engine, clock, signer=FailingSigner.generate())
    entry = broken.record("hsm.failure", actor="component:signer", error="token removed")
    assert entry.seq == 1  # written; the note that its checkpoint failed follows
    first = next(iter_entries(audit_engine))
    assert (first.event, first.level) == ("hsm.failure", "error")
    anomaly = list(iter_entries(audit_engine))[1]
    assert anomaly.event == "system.anomaly"
    assert anomaly.details == {"anomaly": "audit checkpoint not signed", "error": "the HSM is gone"}
    broken.record("access.login", actor="person:a")  # no retry, no second note, for a minute
    assert [e.event for e in iter_entries(audit_engine)].count("system.anomaly") == 1
    assert load_checkpoints(audit_engine) == []
    # With the key back, the next checkpoint vouches for everything before it.
    AuditLog(audit_engine, clock, signer=audit_key).checkpoint()
    assert verify_db(audit_engine, audit_key).ok


def test_checkpoints_come_with_the_first_entry_then_every_n_entries(
    audit_engine: Engine, make_log: LogFactory
) -> None:
    log = make_log(audit_engine, checkpoint_every=5)
    for i in range(12):
        log.record("access.login", actor=f"person:p{i}")
    assert [cp.seq for cp in load_checkpoints(audit_engine)] == [1, 6, 11]


def test_checkpoints_come_at_intervals(
    audit_engine: Engine, make_log: LogFactory, clock: FakeClock
) -> None:
    log = make_log(audit_engine, checkpoint_interval=timedelta(minutes=10))
    log.record("access.login", actor="person:a")
    clock.advance(timedelta(minutes=9))
    log.record("access.login", actor="person:b")
    clock.advance(timedelta(minutes=1))
    log.record("access.login", actor="person:c")
    assert [cp.seq for cp in load_checkpoints(audit_engine)] == [1, 3]


def test_checkpoint_on_demand_signs_the_head_once(
    audit_log: AuditLog, audit_engine: Engine, audit_key: Ed25519Signer
) -> None:
    assert audit_log.checkpoint() is None  # an empty log has nothing to sign
    audit_log.record("access.login", actor="person:a")
    audit_log.record("access.login", actor="person:b")
    cp = audit_log.checkpoint()
    assert cp is not None and cp.seq == 2 and cp.key_id == audit_key.key_id
    assert audit_log.checkpoint() is None  # nothing new since
    report = verify_db(audit_engine, audit_key)
    assert report.ok and report.signed_upto == 2


def test_a_log_without_a_key_cannot_checkpoint(audit_engine: Engine, clock: FakeClock) -> None:
    log = AuditLog(audit_engine, clock, signer=None)
    log.record("access.login", actor="person:a")
    with pytest.raises(AuditError, match="no audit key"):
        log.checkpoint()


def test_a_clock_stepping_back_is_recorded_before_the_entry(
    audit_log: AuditLog, audit_engine: Engine, clock: FakeClock, audit_key: Ed25519Signer
) -> None:
    audit_log.record("access.login", actor="person:a")
    before = clock.now()
    clock.set(before - timedelta(hours=1))
    entry = audit_log.record("access.login", actor="person:b")
    anomaly, after = list(iter_entries(audit_engine))[1:]
    assert (anomaly.event, anomaly.level, anomaly.actor) == (
        "clock.backwards",
        "warning",
        "component:audit",
    )
    assert anomaly.details["behind_microseconds"] == 3600 * 10**6
    assert anomaly.details["previous_time"] == "2025-03-01T12:00:00.000000Z"
    assert after == entry and entry.time == before - timedelta(hours=1)  # the clock's time
    # The next entry compares with this one: no repeated alarm.
    audit_log.record("access.login", actor="person:c")
    assert events(audit_engine).count("clock.backwards") == 1
    assert verify_db(audit_engine, audit_key).ok


def test_a_step_back_within_the_tolerance_is_not_an_anomaly(
    audit_engine: Engine, make_log: LogFactory, clock: FakeClock
) -> None:
    log = make_log(audit_engine, backwards_tolerance=timedelta(milliseconds=500))
    log.record("access.login", actor="person:a")
    clock.set(clock.now() - timedelta(milliseconds=400))
    log.record("access.login", actor="person:b")
    clock.set(clock.now() - timedelta(milliseconds=600))
    log.record("access.login", actor="person:c")
    assert events(audit_engine).count("clock.backwards") == 1


def test_an_unsynchronised_clock_is_recorded_once_and_its_recovery_too(
    audit_engine: Engine, make_log: LogFactory, clock: FakeClock
) -> None:
    probe = FixedClockStatus(SyncState.UNSYNCHRONISED)
    log = make_log(audit_engine, probe=probe, sync_check_interval=timedelta(seconds=1))
    log.record("access.login", actor="person:a")
    clock.advance(timedelta(seconds=5))
    log.record("access.login", actor="person:b")
    # Another writer (a new process) knows the state from the head row.
    other = make_log(audit_engine, probe=probe)
    other.record("access.login", actor="person:c")
    probe.current = SyncState.SYNCHRONISED
    clock.advance(timedelta(seconds=5))
    log.record("access.login", actor="person:d")
    assert events(audit_engine) == [
        "clock.unsynchronised",
        "access.login",
        "access.login",
        "access.login",
        "clock.synchronised",
        "access.login",
    ]


def test_a_synchronised_or_unknown_clock_records_nothing(
    audit_engine: Engine, make_log: LogFactory
) -> None:
    for state in (SyncState.SYNCHRONISED, SyncState.UNKNOWN):
        make_log(audit_engine, probe=FixedClockStatus(state)).record(
            "access.login", actor="person:a"
        )
    assert events(audit_engine) == ["access.login", "access.login"]


class CountingProbe(FixedClockStatus):
    def __init__(self) -> None:
        super().__init__(SyncState.SYNCHRONISED)
        self.calls = 0

    def state(self) -> SyncState:
        self.calls += 1
        return super().state()


def test_the_kernel_is_asked_at_most_once_per_interval(
    audit_engine: Engine, make_log: LogFactory, clock: FakeClock
) -> None:
    probe = CountingProbe()
    log = make_log(audit_engine, probe=probe, sync_check_interval=timedelta(minutes=1))
    for _ in range(5):
        log.record("access.login", actor="person:a")
    clock.advance(timedelta(minutes=1))
    log.record("access.login", actor="person:a")
    assert probe.calls == 2


def test_the_database_refuses_updates_and_deletes(
    audit_log: AuditLog, audit_engine: Engine
) -> None:
    audit_log.record("access.login", actor="person:a")
    statements = [
        "UPDATE audit_entries SET actor = 'person:mallory'",
        "DELETE FROM audit_entries",
        "UPDATE audit_checkpoints SET head_hash = 'x'",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_head SET seq = 0",
        "DELETE FROM audit_head",
    ]
    for statement in statements:
        with pytest.raises(IntegrityError, match="tldsec audit log"), audit_engine.begin() as conn:
            conn.execute(text(statement))
    assert audit_log.head().seq == 1


def test_concurrent_writers_get_distinct_gap_free_numbers(
    audit_engine: Engine, make_log: LogFactory, audit_key: Ed25519Signer
) -> None:
    writers, each = 8, 25
    errors: list[BaseException] = []

    def work(n: int) -> None:
        log = make_log(audit_engine, checkpoint_every=10)
        try:
            for i in range(each):
                log.record("ds.received", actor=f"registrar:reg-{n}", n=i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seqs = [e.seq for e in iter_entries(audit_engine)]
    assert seqs == list(range(1, writers * each + 1))
    assert verify_db(audit_engine, audit_key).ok


def test_threads_sharing_one_log_group_their_entries_without_gaps(
    audit_engine: Engine, make_log: LogFactory, audit_key: Ed25519Signer
) -> None:
    log = make_log(audit_engine, checkpoint_every=7)
    threads_n, each = 8, 25
    returned: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            for i in range(each):
                entry = log.record("ds.received", actor=f"registrar:reg-{n}", n=i)
                with lock:
                    returned.append((entry.seq, entry.hash))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stored = [(e.seq, e.hash) for e in iter_entries(audit_engine) if e.event == "ds.received"]
    # Every call got its own committed entry back, and the chain has no gap.
    assert sorted(returned) == stored and len(stored) == threads_n * each
    seqs = [e.seq for e in iter_entries(audit_engine)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert verify_db(audit_engine, audit_key).ok
