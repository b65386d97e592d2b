"""The audit log on PostgreSQL: append-only for every role, purge only through its function,
and many writer processes getting distinct, gap-free numbers with the chain intact."""

from __future__ import annotations

import json
import multiprocessing
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tests.audit.conftest import START
from tests.audit.test_insider import make_home
from tldsec.audit.anchors import FileAnchor
from tldsec.audit.archive import archive_old_entries, purge_archived
from tldsec.audit.chain import FindingKind, VerifyReport, verify_chain
from tldsec.audit.clockstatus import FixedClockStatus
from tldsec.audit.config import open_audit_log
from tldsec.audit.entry import GENESIS_HASH, make_entry
from tldsec.audit.log import AuditLog, WriterOptions
from tldsec.audit.query import iter_entries, load_checkpoints
from tldsec.audit.schema import grant_app_role, grant_maintenance_role, upgrade
from tldsec.audit.signing import Ed25519Signer
from tldsec.audit.sources import archive_input, database_input
from tldsec.audit.verification import verify_database
from tldsec.cli.main import main
from tldsec.clock import FakeClock, SystemClock
from tldsec.db import migrate
from tldsec.db.base import make_engine
from tldsec.errors import AuditError
from tldsec.settings import load_settings

pytestmark = pytest.mark.postgres

WRITERS = 8
EACH = 40


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def key() -> Ed25519Signer:
    return Ed25519Signer.generate()


def verify(engine: Engine, key: Ed25519Signer) -> VerifyReport:
    source = database_input(engine)
    return verify_chain(
        source.entries,
        keys={key.key_id: key.public_key()},
        checkpoints=source.checkpoints,
        anchor=source.anchor,
        head=source.head,
    )


def test_the_log_refuses_update_delete_and_truncate_even_for_its_owner(
    pg: Engine, key: Ed25519Signer
) -> None:
    log = AuditLog(pg, FakeClock(START), signer=key)
    log.record("key.generated", actor="component:keys", key_id="k1")
    for statement in (
        "UPDATE audit_entries SET actor = 'person:mallory'",
        "DELETE FROM audit_entries",
        "TRUNCATE audit_entries",
        "UPDATE audit_checkpoints SET head_hash = 'x'",
        "TRUNCATE audit_archives",
        "TRUNCATE audit_head",
        "UPDATE audit_head SET seq = 0",
        "DELETE FROM audit_head",
    ):
        with pytest.raises(DBAPIError, match="tldsec audit log"), pg.begin() as conn:
            conn.execute(text(statement))
    assert verify(pg, key).ok


def test_the_zone_is_written_by_the_pipelined_append_and_covered_by_the_hash(
    pg: Engine, key: Ed25519Signer
) -> None:
    """Decisions.md 58 on PostgreSQL: the zone goes through _append_postgres, reads back,
    verifies, and an owner who drops the trigger to change it is found."""
    log = AuditLog(pg, FakeClock(START), signer=key, zone="example.")
    log.record("key.generated", actor="component:keys", key_id="k1")
    log.record("access.login", actor="person:a")
    assert [e.zone for e in iter_entries(pg)] == ["example.", None]
    assert verify(pg, key).ok
    with pg.begin() as conn:
        conn.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        conn.execute(text("UPDATE audit_entries SET zone = 'other.' WHERE seq = 1"))
        conn.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER USER"))
    report = verify(pg, key)
    assert not report.ok and report.findings[0].kind is FindingKind.MODIFIED


def test_a_log_written_before_zones_is_migrated_in_place_and_the_app_role_writes_zones(
    postgres_url: str, key: Ed25519Signer
) -> None:
    """Migration 0003 on a PostgreSQL log that has entries and its append-only triggers:
    the column is added, no entry changes, the old entries verify beside new ones that
    name their zone, written by the application role with 'tldsec audit grant' grants
    given before the upgrade."""
    engine = make_engine(postgres_url)
    try:
        migrate.upgrade(engine, "audit", "0002_audit_registered_purge")
        # Two entries as release 0.1.0 wrote them: no zone member, so the same bytes.
        old, prev = [], GENESIS_HASH
        for seq, event in ((1, "key.generated"), (2, "access.login")):
            entry = make_entry(
                seq=seq,
                time=START,
                actor="component:keys",
                event=event,
                level="notice",
                details={"n": seq},
                prev_hash=prev,
            )
            old.append(entry)
            prev = entry.hash
        with engine.begin() as conn:
            for e in old:
                conn.execute(
                    text(
                        "INSERT INTO audit_entries (seq, time, actor, event, level, details,"
                        " prev_hash, hash) VALUES (:seq, :time, :actor, :event, :level,"
                        " CAST(:details AS json), :prev_hash, :hash)"
                    ),
                    {**e.to_record(), "time": e.time, "details": json.dumps(dict(e.details))},
                )
            conn.execute(
                text("UPDATE audit_head SET seq = 2, hash = :h, time = :t WHERE id = 1"),
                {"h": prev, "t": START},
            )
        with login_role(engine, postgres_url, "app") as (role, url):
            grant_app_role(engine, role)
            upgrade(engine)
            app = make_engine(url)
            try:
                log = AuditLog(app, FakeClock(START), signer=key, zone="example.")
                log.record("key.generated", actor="component:keys", key_id="k2")
                entries = list(iter_entries(app))
            finally:
                app.dispose()
        assert [e.zone for e in entries] == [None, None, "example."]
        assert [e.hash for e in entries[:2]] == [e.hash for e in old]
        assert verify(engine, key).ok
    finally:
        engine.dispose()


def test_setting_the_purge_variable_by_hand_does_not_delete_unarchived_entries(
    pg: Engine, key: Ed25519Signer
) -> None:
    AuditLog(pg, FakeClock(START), signer=key).record("access.login", actor="person:a")
    with pytest.raises(DBAPIError, match="append-only"), pg.begin() as conn:
        conn.execute(text("SELECT set_config('tldsec.audit_purge_upto', '100', true)"))
        conn.execute(text("DELETE FROM audit_entries"))
    with pytest.raises(DBAPIError, match="no archive ends at entry 1"), pg.begin() as conn:
        conn.execute(text("SELECT tldsec_audit_purge(1)"))


@contextmanager
def login_role(pg: Engine, postgres_url: str, kind: str) -> Iterator[tuple[str, str]]:
    """A new login role (unique name), its SQLAlchemy URL; dropped afterwards."""
    role = f"tldsec_{kind}_{uuid.uuid4().hex[:8]}"
    with pg.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    try:
        yield role, make_url(postgres_url).set(username=role).render_as_string(hide_password=False)
    finally:
        with pg.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))


@pytest.fixture
def app_role(pg: Engine, postgres_url: str) -> Iterator[str]:
    """A login role with the grants 'tldsec audit grant' gives; its SQLAlchemy URL."""
    with login_role(pg, postgres_url, "app") as (role, url):
        grant_app_role(pg, role)
        yield url


@pytest.fixture
def maintenance_role(pg: Engine, postgres_url: str) -> Iterator[str]:
    """The separate role 'tldsec audit grant --maintenance' makes; its URL."""
    with login_role(pg, postgres_url, "maint") as (role, url):
        grant_maintenance_role(pg, role)
        yield url


def test_the_application_role_appends_but_cannot_change_or_delete(
    pg: Engine, app_role: str, maintenance_role: str, key: Ed25519Signer, tmp_path: Path
) -> None:
    clock = FakeClock(START - timedelta(days=500))
    app = make_engine(app_role)
    maintenance = make_engine(maintenance_role)
    try:
        log = AuditLog(app, clock, signer=key, probe=FixedClockStatus())
        for i in range(5):
            log.record("ds.received", actor="registrar:reg-1", n=i)
        for statement in (
            "UPDATE audit_entries SET actor = 'person:mallory'",
            "DELETE FROM audit_entries",
            "TRUNCATE audit_entries",
        ):
            with pytest.raises(DBAPIError, match="permission denied"), app.begin() as conn:
                conn.execute(text(statement))
        # The application archives; only the maintenance role purges, through the function.
        clock.set(START)
        log.record("access.login", actor="person:operator")
        result = archive_old_entries(
            log, directory=tmp_path, online_retention=timedelta(days=365), actor="person:op"
        )
        assert result is not None and (result.first_seq, result.last_seq) == (1, 5)
        purged = purge_archived(
            log,
            directory=tmp_path,
            online_retention=timedelta(days=365),
            actor="person:op",
            keys={key.key_id: key.public_key()},
            maintenance=maintenance,
        )
        assert purged.removed == 5
    finally:
        app.dispose()
        maintenance.dispose()
    assert next(e.seq for e in iter_entries(pg)) == 6
    assert verify(pg, key).ok
    source = archive_input([result.path])
    report = verify_chain(
        source.entries, keys={key.key_id: key.public_key()}, checkpoints=source.checkpoints
    )
    assert report.ok, report.findings


def _writer(url: str, writer: int, raw_key: bytes, barrier: object) -> None:
    """One writer process: its own engine, the shared audit key, checkpoints as they fall."""
    engine = make_engine(url)
    signer = Ed25519Signer(Ed25519PrivateKey.from_private_bytes(raw_key))
    log = AuditLog(
        engine,
        SystemClock(),
        signer=signer,
        probe=FixedClockStatus(),
        options=WriterOptions(checkpoint_every=7, backwards_tolerance=timedelta(seconds=5)),
    )
    barrier.wait()  # type: ignore[attr-defined]
    for i in range(EACH):
        log.record("ds.received", actor=f"registrar:reg-{writer}", n=i)
    engine.dispose()


def test_many_writer_processes_get_distinct_gap_free_numbers_and_an_intact_chain(
    pg: Engine, postgres_url: str
) -> None:
    raw = Ed25519PrivateKey.generate()
    signer = Ed25519Signer(raw)
    raw_bytes = raw.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    # forkserver: one process imports tldsec once, each writer forks from it (no threads
    # of ours inherited, no re-import per writer).
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tldsec.audit.log", "tldsec.db.base", __name__])
    barrier = ctx.Barrier(WRITERS)
    procs = [
        ctx.Process(target=_writer, args=(postgres_url, n, raw_bytes, barrier))
        for n in range(WRITERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    entries = list(iter_entries(pg))
    assert [e.seq for e in entries] == list(range(1, WRITERS * EACH + 1))  # no gap, no duplicate
    for n in range(WRITERS):
        mine = [e.details["n"] for e in entries if e.actor == f"registrar:reg-{n}"]
        assert mine == list(range(EACH))  # each writer's own order kept
    assert len(load_checkpoints(pg)) >= (WRITERS * EACH) // 7
    report = verify(pg, signer)
    assert report.ok, report.findings
    assert report.signed_upto is not None


def test_tampering_by_a_superuser_who_disables_the_triggers_is_found(
    pg: Engine, key: Ed25519Signer
) -> None:
    log = AuditLog(pg, FakeClock(START), signer=key)
    for i in range(10):
        log.record("key.activated", actor="component:keys", n=i)
    log.checkpoint()
    with pg.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("UPDATE audit_entries SET level = 'info' WHERE seq = 4"))
        conn.execute(text("DELETE FROM audit_entries WHERE seq = 7"))
    report = verify(pg, key)
    assert [(f.kind, f.first_seq) for f in report.findings] == [
        (FindingKind.MODIFIED, 4),
        (FindingKind.DELETED, 7),
    ]


def test_writing_without_the_schema_is_a_clear_error(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        with pytest.raises(AuditError, match="cannot write the audit log"):
            AuditLog(engine, FakeClock(START), signer=None).record("access.login", actor="person:a")
    finally:
        engine.dispose()


# The writer on PostgreSQL runs each append in two round trips (several statements a message):
# the same rules as on SQLite, checked here on that path.


def _end_every_session(engine: Engine) -> None:
    """Terminate every server session on the engine's database (a database restart, as
    the pooled connections see it), from a connection of its own."""
    url = engine.url
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    ) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


class _FailingSigner(Ed25519Signer):
    def sign(self, message: bytes) -> bytes:
        raise AuditError("the HSM is gone")


def test_a_failed_write_on_postgresql_leaves_no_gap_and_the_log_goes_on(
    pg: Engine, key: Ed25519Signer
) -> None:
    log = AuditLog(pg, FakeClock(START), signer=key)
    log.record("access.login", actor="person:a")
    with pg.begin() as conn:  # the database refuses one particular insert
        conn.execute(
            text(
                "CREATE FUNCTION refuse_x() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.actor = 'person:x' THEN RAISE EXCEPTION 'disk full'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_entries "
                "FOR EACH ROW EXECUTE FUNCTION refuse_x()"
            )
        )
    with pytest.raises(AuditError, match="disk full"):
        log.record("access.login", actor="person:x")
    assert log.head().seq == 1  # the head update of the failed append was rolled back
    assert log.record("access.login", actor="person:b").seq == 2
    assert [e.actor for e in iter_entries(pg)] == ["person:a", "person:b"]
    assert verify(pg, key).ok


def test_a_writer_whose_connection_was_killed_fails_once_then_writes_again(
    pg: Engine, key: Ed25519Signer
) -> None:
    log = AuditLog(pg, FakeClock(START), signer=key)
    log.record("access.login", actor="person:a")
    _end_every_session(pg)
    # The pool pings before use (the default engine), or the write fails and the
    # broken connection is dropped: either way the next write succeeds.
    try:
        log.record("access.login", actor="person:b")
    except AuditError:
        log.record("access.login", actor="person:b")
    assert [e.seq for e in iter_entries(pg)] == [1, 2]
    assert verify(pg, key).ok


def test_a_dead_pooled_connection_without_ping_fails_one_write_only(
    postgres_url: str, key: Ed25519Signer
) -> None:
    engine = make_engine(postgres_url, pool_pre_ping=False)
    upgrade(engine)
    try:
        log = AuditLog(engine, FakeClock(START), signer=key)
        log.record("access.login", actor="person:a")
        _end_every_session(engine)
        with pytest.raises(AuditError, match="cannot write the audit log"):
            log.record("access.login", actor="person:b")
        assert log.record("access.login", actor="person:c").seq == 2
        assert verify(engine, key).ok
    finally:
        engine.dispose()


def test_postgresql_checkpoints_clock_anomalies_and_an_unsigned_checkpoint(
    pg: Engine, key: Ed25519Signer
) -> None:
    clock = FakeClock(START)
    log = AuditLog(
        pg, clock, signer=key, probe=FixedClockStatus(), options=WriterOptions(checkpoint_every=3)
    )
    for i in range(4):
        log.record("access.login", actor=f"person:p{i}")
    clock.set(START - timedelta(hours=1))
    log.record("access.login", actor="person:late")
    broken = AuditLog(
        pg, clock, signer=_FailingSigner.generate(), options=WriterOptions(checkpoint_every=1)
    )
    broken.record("hsm.failure", actor="component:signer", error="token removed")
    assert [e.event for e in iter_entries(pg)] == [
        *["access.login"] * 4,
        "clock.backwards",
        "access.login",
        "hsm.failure",
        "system.anomaly",
    ]
    assert [cp.seq for cp in load_checkpoints(pg)] == [1, 4]
    assert log.checkpoint() is not None
    report = verify(pg, key)
    assert report.ok, report.findings
    assert report.signed_upto == 8


def test_after_an_append_or_a_failed_one_the_pooled_connection_has_transactions_again(
    pg: Engine, key: Ed25519Signer
) -> None:
    """The writer runs its append in autocommit mode with its own BEGIN; whoever gets the
    connection from the pool next must find psycopg's usual transactions."""
    log = AuditLog(pg, FakeClock(START), signer=key)
    log.record("access.login", actor="person:a")
    with pg.connect() as conn:
        assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
    with pytest.raises(AuditError):
        log.record("access.login", actor="person:b", ratio=0.5)  # refused before the database
    with pg.begin() as conn:  # a statement that fails inside the append's transaction
        conn.execute(
            text("ALTER TABLE audit_entries ADD CONSTRAINT no_c CHECK (actor <> 'person:c')")
        )
    with pytest.raises(AuditError, match="no_c"):
        log.record("access.login", actor="person:c")
    with pg.connect() as conn:
        assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
        conn.execute(text("SELECT 1"))
        assert conn.in_transaction()
    assert [e.seq for e in iter_entries(pg)] == [1]


# --- issue 16: what an insider can no longer do unnoticed -------------------------------


def _entries(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.record("ds.received", actor="registrar:reg-1", n=i)


def _forge_archive_record(conn: Connection, upto: int) -> None:
    head_hash = conn.execute(
        text("SELECT hash FROM audit_entries WHERE seq = :s"), {"s": upto}
    ).scalar_one()
    conn.execute(
        text("INSERT INTO audit_archives VALUES (:u, 1, :p, :h, now(), 'x.jsonl', :f, now(), 'k')"),
        {"u": upto, "p": "0" * 64, "h": head_hash, "f": "f" * 64},
    )


def test_the_application_role_cannot_purge_even_with_an_archive_record_of_its_own(
    pg: Engine, app_role: str, key: Ed25519Signer
) -> None:
    app = make_engine(app_role)
    try:
        _entries(AuditLog(app, FakeClock(START), signer=key, probe=FixedClockStatus()), 12)
        with pytest.raises(DBAPIError, match="permission denied"), app.begin() as conn:
            _forge_archive_record(conn, 10)
            conn.execute(text("SELECT tldsec_audit_purge(10)"))
    finally:
        app.dispose()
    assert next(e.seq for e in iter_entries(pg)) == 1


def test_the_purge_function_refuses_an_archive_the_log_never_registered(
    pg: Engine, maintenance_role: str, key: Ed25519Signer
) -> None:
    maintenance = make_engine(maintenance_role)
    try:
        _entries(AuditLog(maintenance, FakeClock(START), signer=key, probe=FixedClockStatus()), 12)
        with pytest.raises(DBAPIError, match="not registered in the log"), maintenance.begin() as c:
            _forge_archive_record(c, 10)
            c.execute(text("SELECT tldsec_audit_purge(10)"))
    finally:
        maintenance.dispose()
    assert next(e.seq for e in iter_entries(pg)) == 1


def test_grant_refuses_an_application_role_that_can_assume_the_maintenance_role(
    pg: Engine, postgres_url: str, maintenance_role: str
) -> None:
    maintainer = make_url(maintenance_role).username
    with login_role(pg, postgres_url, "app") as (role, _):
        with pg.begin() as conn:
            conn.execute(text(f'GRANT "{maintainer}" TO "{role}"'))
        with pytest.raises(AuditError, match=f"can act as {maintainer}"):
            grant_app_role(pg, role)


def test_a_rewind_with_the_triggers_off_is_named_by_the_checkpoint_files(
    pg: Engine, key: Ed25519Signer, tmp_path: Path
) -> None:
    anchor = FileAnchor(tmp_path / "anchors")
    log = AuditLog(
        pg,
        FakeClock(START),
        signer=key,
        probe=FixedClockStatus(),
        options=WriterOptions(checkpoint_every=5),
        anchors=[anchor],
    )
    _entries(log, 45)
    log.checkpoint()
    with pg.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        kept = conn.execute(text("SELECT hash FROM audit_entries WHERE seq = 2")).scalar_one()
        conn.execute(text("DELETE FROM audit_entries WHERE seq > 2"))
        conn.execute(text("DELETE FROM audit_checkpoints WHERE seq > 2"))
        conn.execute(
            text("UPDATE audit_head SET seq = 2, hash = :h, checkpoint_seq = 1"), {"h": kept}
        )
    assert verify(pg, key).ok  # the database alone: intact and signed
    checked = verify_database(pg, {key.key_id: key.public_key()}, now=START, anchors=[anchor])
    (finding,) = checked.report.findings
    assert finding.kind is FindingKind.REWOUND and (finding.first_seq, finding.last_seq) == (3, 45)
    assert "the log ends at 2" in finding.detail and "says entry 45 existed" in finding.detail


def test_the_cli_archives_as_the_application_and_purges_only_as_the_maintenance_role(
    pg: Engine,
    app_role: str,
    maintenance_role: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = make_home(tmp_path)
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[database]\naudit_url = "{app_role}"\n')
    clock = FakeClock(START - timedelta(days=500))
    log = open_audit_log(load_settings(home), clock)
    for i in range(6):
        clock.advance(timedelta(days=10))
        log.record("ds.received", actor="registrar:reg-1", n=i)
    log.close()
    h = ["--home", str(home)]
    assert main(["audit", "archive", *h]) == 0, capsys.readouterr().err
    # The application role cannot purge, and says what to configure.
    assert main(["audit", "purge", *h]) == 1
    err = capsys.readouterr().err
    assert "permission denied" in err and "set [audit] maintenance_url" in err
    config = home / "tldsec.toml"
    text_ = config.read_text("utf-8").replace(
        "[audit]\n", f'[audit]\nmaintenance_url = "{maintenance_role}"\n'
    )
    config.write_text(text_, "utf-8")
    assert main(["audit", "purge", *h]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith("purged ")
    assert main(["audit", "verify", "--no-record", *h]) == 0
    out = capsys.readouterr().out
    assert ": verified" in out and "OK: the audit log is intact" in out
