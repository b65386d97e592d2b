"""Hot-path statements on libpq (``db/pgwire.py``): values that PostgreSQL reads back as
themselves, statements prepared once per connection, one round trip with several results,
errors named as SQLAlchemy's with nothing after them run, and deferred writes never lost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from tldsec.db import pgwire
from tldsec.db.base import make_engine
from tldsec.registry.database import RegistryDatabase


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url, pool_pre_ping=False)
    yield engine
    engine.dispose()


# Any text PostgreSQL can store: no NUL, quotes and backslashes included.
texts = st.text(st.characters(exclude_characters="\x00", codec="utf-8"), max_size=40)
ROUND_TRIP = pgwire.Prepared.of("test_round_trip", "SELECT %(v)s::text")


def test_values_of_every_kind_reach_postgresql_as_themselves(engine: Engine) -> None:
    moment = datetime(2026, 11, 29, 22, 5, 1, 123456, tzinfo=UTC)
    kinds = pgwire.Prepared.of(
        "test_kinds",
        "SELECT %(t)s::timestamptz = %(tokyo)s::timestamptz, %(b)s::boolean, %(none)s::int,"
        " %(ints)s::int[] = ARRAY[1, -2, 3], cardinality(%(empty)s::text[])",
    )
    tokyo = moment.astimezone(ZoneInfo("Asia/Tokyo"))
    values = {"t": moment, "tokyo": tokyo, "b": True, "none": None, "ints": [1, -2, 3]}
    with engine.connect() as conn:
        (result,) = pgwire.pipeline(conn, [(kinds, {**values, "empty": ()})])
        got = [pgwire.value(result, 0, c) for c in range(5)]
    assert got == ["t", "t", None, "t", "0"]


def test_values_without_a_postgresql_form_are_refused_by_name(engine: Engine) -> None:
    with engine.connect() as conn:
        with pytest.raises(TypeError, match="float"):
            pgwire.pipeline(conn, [(ROUND_TRIP, {"v": 1.5})])
        with pytest.raises(ValueError, match="NUL"):
            pgwire.pipeline(conn, [(ROUND_TRIP, {"v": "a\0b"})])
        with pytest.raises(ValueError, match="NUL"):
            pgwire.pipeline(conn, [(ROUND_TRIP, {"v": ["a\0b"]})])
        with pytest.raises(ValueError, match="naive datetime"):
            pgwire.pipeline(conn, [(ROUND_TRIP, {"v": datetime(2026, 1, 1)})])
        assert not conn.invalidated  # refused before anything was sent


def test_one_round_trip_gives_every_statement_its_result(engine: Engine) -> None:
    two_rows = pgwire.Prepared.of("test_two_rows", "SELECT 'x', 2 UNION ALL SELECT 'y', 3")
    with engine.connect() as conn:
        results = pgwire.pipeline(conn, [(ROUND_TRIP, {"v": "a"}), (two_rows, {})])
        assert [r.ntuples for r in results] == [1, 2]
        assert pgwire.value(results[1], 1, 0) == "y"


def test_begin_opens_a_transaction_only_when_none_is_open(engine: Engine) -> None:
    with engine.connect() as conn:
        assert pgwire.begin(conn) == [("BEGIN", {})]
        conn.execute(text("SELECT 1"))  # psycopg opened one
        assert pgwire.begin(conn) == []


INSERT = pgwire.Prepared.of("test_insert", "INSERT INTO t VALUES (%(n)s)")
ECHO = pgwire.Prepared.of("test_echo", "SELECT %(v)s::text, %(n)s::int + 1, %(v)s::text")


def test_a_prepared_statement_numbers_its_placeholders_once_each() -> None:
    assert ECHO.sql == b"SELECT $1::text, $2::int + 1, $1::text"
    assert ECHO.params == ("v", "n")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=texts, items=st.lists(texts, max_size=4))
def test_prepared_values_read_back_unchanged(engine: Engine, value: str, items: list[str]) -> None:
    arrays = pgwire.Prepared.of("test_array", "SELECT %(a)s::text[] = %(b)s::text[]")
    with engine.connect() as conn:
        echoed, same = pgwire.pipeline(
            conn, [(ECHO, {"v": value, "n": 41}), (arrays, {"a": items, "b": tuple(items)})]
        )
        assert (pgwire.value(echoed, 0, 0), pgwire.value(echoed, 0, 1)) == (value, "42")
        text_array = pgwire.Prepared.of("test_text_array", "SELECT (%(a)s::text[])[%(i)s::int]")
        for i, item in enumerate(items, start=1):
            (got,) = pgwire.pipeline(conn, [(text_array, {"a": items, "i": i})])
            assert pgwire.value(got, 0, 0) == item
        assert pgwire.value(same, 0, 0) == "t"


def test_a_statement_is_prepared_once_per_connection(engine: Engine) -> None:
    with engine.connect() as conn:
        for n in range(3):
            pgwire.pipeline(conn, [(ECHO, {"v": "x", "n": n})])
        prepared = conn.execute(
            text("SELECT count(*) FROM pg_prepared_statements WHERE name = 'tldsec_test_echo'")
        ).scalar()
        assert prepared == 1


def test_a_failing_step_is_raised_and_the_steps_after_it_do_not_run(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n int PRIMARY KEY)"))
    with engine.connect() as conn:
        steps: list[pgwire.Step] = [("BEGIN", {}), (INSERT, {"n": 1}), (INSERT, {"n": 1})]
        with pytest.raises(DBAPIError, match="duplicate key"):
            pgwire.pipeline(conn, [*steps, (INSERT, {"n": 2}), ("COMMIT", {})])
        assert not conn.invalidated  # the pipeline was read to its end
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
        # the statement prepared in the failed pipeline is used again
        pgwire.pipeline(conn, [(INSERT, {"n": 7})])
        assert conn.execute(text("SELECT n FROM t")).scalar() == 7


def test_a_pipeline_on_a_dropped_connection_invalidates_it(engine: Engine) -> None:
    kill = pgwire.Prepared.of("test_kill", "SELECT pg_terminate_backend(pg_backend_pid())")
    with engine.connect() as conn:
        with pytest.raises(DBAPIError):
            pgwire.pipeline(conn, [(kill, {}), (ECHO, {"v": "x", "n": 1})])
        assert conn.invalidated
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_a_deferred_write_goes_before_a_plain_commit(postgres_url: str) -> None:
    db = RegistryDatabase.from_url(postgres_url, pool_pre_ping=False)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (n int)"))
        with db.write() as session:
            pgwire.defer(session, (INSERT, {"n": 1}))
            pgwire.defer(session, (INSERT, {"n": 2}))
        with db.write() as session:
            pgwire.defer(session, (INSERT, {"n": 3}))
            pgwire.commit_with(session, (INSERT, {"n": 4}))
        with pytest.raises(RuntimeError), db.write() as session:
            pgwire.defer(session, (INSERT, {"n": 5}))
            raise RuntimeError("the command failed")
        with db.read() as session:
            rows = session.execute(text("SELECT n FROM t ORDER BY n")).scalars().all()
        assert rows == [1, 2, 3, 4]
    finally:
        db.dispose()


def test_a_failed_deferred_write_fails_the_commit(postgres_url: str) -> None:
    db = RegistryDatabase.from_url(postgres_url, pool_pre_ping=False)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (n int PRIMARY KEY)"))
        with pytest.raises(DBAPIError, match="duplicate key"), db.write() as session:
            pgwire.pipeline(session.connection(), [("BEGIN", {}), (INSERT, {"n": 1})])
            pgwire.defer(session, (INSERT, {"n": 1}))
        with db.read() as session:
            assert session.execute(text("SELECT count(*) FROM t")).scalar() == 0
    finally:
        db.dispose()


def test_statements_deallocated_behind_its_back_are_prepared_again(engine: Engine) -> None:
    with engine.connect() as conn:
        pgwire.pipeline(conn, [(ECHO, {"v": "x", "n": 1})])
        conn.execute(text("DEALLOCATE ALL"))
        conn.commit()
        with pytest.raises(DBAPIError, match="does not exist"):
            pgwire.pipeline(conn, [(ECHO, {"v": "x", "n": 1})])
        (result,) = pgwire.pipeline(conn, [(ECHO, {"v": "y", "n": 1})])
        assert pgwire.value(result, 0, 0) == "y"


def test_a_rollback_elsewhere_on_the_connection_keeps_the_prepared_statements(
    engine: Engine,
) -> None:
    """psycopg deallocates every statement at a rollback once it prepared some of its
    own; the engines tldsec makes keep it from preparing, so the hot path's survive."""
    with engine.connect() as conn:
        pgwire.pipeline(conn, [(ECHO, {"v": "x", "n": 1})])
        for _ in range(8):  # psycopg would prepare this after 5 runs
            conn.execute(text("SELECT count(*) FROM pg_class WHERE relname = :n"), {"n": "t"})
        conn.rollback()
        (result,) = pgwire.pipeline(conn, [(ECHO, {"v": "y", "n": 1})])
        assert pgwire.value(result, 0, 0) == "y"
