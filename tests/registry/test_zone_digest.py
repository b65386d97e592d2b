"""The registry's zone digest (issue 13 item 4, decision 42): kept in the transaction of
every change, it always equals the registry's rows, the running sum of the changes'
deltas and the digest of the zone the builder writes from the same snapshot, whatever
the changes (SQLite and PostgreSQL; the EPP hot path's DS update included), and the
cycle's incremental check of an incrementally built file (``cycle/ledger.py``: previous
position, the changes' deltas, the rewritten owners) agrees. A row a database owner
edits outside the services is a difference the ledger keeps, and names.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select, text, update

from tests.cycle.test_reconcile import SCOPE
from tests.fixtures.registry import RegistryWorld
from tests.zone.test_incremental import SETUP, _rounds, apply, build, ds, world_on
from tldsec.cycle import ledger, reconcile
from tldsec.db.migrate import alembic_config
from tldsec.errors import RegistryError
from tldsec.registry import zonedigest
from tldsec.registry.ds_update import DsUpdate, update_ds
from tldsec.registry.models import DsRecord, ZoneChange, ZoneDigest
from tldsec.registry.zonedigest import Tally
from tldsec.zone.buildinfo import BuildInfo


def running_sum(session) -> Tally:  # type: ignore[no-untyped-def]
    total = Tally()
    for delta, count in session.execute(select(ZoneChange.digest_delta, ZoneChange.count_delta)):
        total = total.plus(zonedigest.delta_of(delta, count))
    return total


def apply_hot(world: RegistryWorld, op: tuple[object, ...]) -> bool:
    """DS changes through the EPP hot path (``update_ds``), the rest as ``apply``."""
    kind, *args = op
    if kind not in ("ds_add", "ds_rem_all"):
        return apply(world, op)
    request = (
        DsUpdate(str(args[0]), add=(ds(int(str(args[1]))),))
        if kind == "ds_add"
        else DsUpdate(str(args[0]), remove_all=True)
    )
    try:
        with world.db.write() as s:
            if not update_ds(s, world.tx("alpha"), request):
                return apply(world, op)
    except RegistryError:
        return False
    return True


def ledger_rounds(
    world: RegistryWorld, directory: Path, rounds: list[list[tuple]], hot: bool
) -> int:  # type: ignore[type-arg]
    world.add_registrar("alpha")
    path = directory / "full.zone"
    inc, old = directory / "inc.zone", directory / "inc.zone.old"
    position: ledger.Position | None = None
    compared = 0
    for serial, ops in enumerate(rounds, start=1):
        for op in ops:
            (apply_hot if hot else apply)(world, op)
        world.clock.advance(timedelta(seconds=1))
        built = build(world, path, serial, incremental=False)
        old.unlink(missing_ok=True)
        if inc.exists():
            os.link(inc, old)
        patched = build(world, inc, serial)
        with world.db.snapshot() as s:
            rows = Tally.of(zonedigest.registry_records(s, zone_id=1))
            table = zonedigest.table_sum(s, 1)
            assert table == rows, zonedigest.differing(s, zone=(1, "example."))
            assert running_sum(s) == table
            assert zonedigest.differing(s, zone=(1, "example.")) == ()
            if isinstance(built, str):
                continue
            # The zone's side, as the cycle reads it: what the builder withheld and the
            # apex glue are the registry's rows there, not the zone's.
            scope = replace(SCOPE, withheld=frozenset(f"{q.name}." for q in built.quarantined))
            zone = Tally.of(reconcile.file_records(path, scope))
            left_out = scope.glue_owners | scope.withheld
            for tally in zonedigest.stored(s, left_out).values():
                zone = zone.plus(tally)
            assert zone == table
            # The cycle's check (cycle/ledger.py) of the incrementally built file: the
            # previous position, the changes' deltas, the rewritten owners only.
            assert not isinstance(patched, str)
            info = BuildInfo.load(inc)
            assert info is not None
            checked = ledger.check(
                s,
                inc,
                replace(SCOPE, withheld=frozenset(f"{q.name}." for q in patched.quarantined)),
                position,
                change_id=info.last_change_id,
                unsettled=info.unsettled,
                old_path=old if patched.incremental and position is not None else None,
                rewritten=info.rewritten,
            )
            assert checked.equal, checked.describe()
            assert checked.position.registry == table
            position = checked.position
        compared += rows.count > 0
    return compared


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=_rounds)
def test_ledger_running_sum_and_zone_agree_on_sqlite(
    tmp_path_factory: pytest.TempPathFactory, rounds: list[list[tuple[object, ...]]]
) -> None:
    directory = tmp_path_factory.mktemp("ledger")
    with world_on("sqlite", directory) as world:
        ledger_rounds(world, directory, rounds, hot=len(rounds) % 2 == 0)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=_rounds)
def test_ledger_running_sum_and_zone_agree_on_postgres(
    tmp_path_factory: pytest.TempPathFactory, rounds: list[list[tuple[object, ...]]]
) -> None:
    directory = tmp_path_factory.mktemp("ledger")
    with world_on("postgres", directory) as world:
        ledger_rounds(world, directory, rounds, hot=True)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_hot_path_keeps_the_ledger(backend: str, tmp_path: Path) -> None:
    """DS added and removed over ``update_ds`` (pgwire on PostgreSQL): the ledger row
    and the change rows' deltas follow; a held domain's DS are not in the zone."""
    with world_on(backend, tmp_path) as world:
        world.add_registrar("alpha")
        for op in SETUP:
            apply(world, op)
        tx = world.tx("alpha")
        with world.db.write() as s:
            assert update_ds(s, tx, DsUpdate("a.example", add=(ds(1), ds(2))))
        with world.db.write() as s:
            assert update_ds(s, tx, DsUpdate("a.example", remove=(ds(1),)))
        apply(world, ("hold", "b.example"))
        with world.db.write() as s:
            assert update_ds(s, tx, DsUpdate("b.example", add=(ds(3),)))
        with world.db.read() as s:
            assert zonedigest.differing(s, zone=(1, "example.")) == ()
            mine = zonedigest.stored(s, ["a.example."])["a.example."]
            assert mine == zonedigest.recomputed(s, ["a.example."])["a.example."]
            assert mine.count == 2  # NS ns.ext.net, DS 2
            assert running_sum(s) == zonedigest.table_sum(s, 1)
            last = s.execute(
                select(ZoneChange.name, ZoneChange.digest_delta).order_by(ZoneChange.id.desc())
            ).first()
            assert last is not None and last == ("b.example", None)  # held: no zone content


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_row_edited_outside_the_services_is_named_and_kept(backend: str, tmp_path: Path) -> None:
    """The attack on the registry side: a DS digest rewritten and an NS row inserted with
    SQL, no zone_change row. The ledger differs from the rows at those owners, and a
    later legitimate change of the same domain does not absorb the edit."""
    with world_on(backend, tmp_path) as world:
        world.add_registrar("alpha")
        for op in SETUP:
            apply(world, op)
        apply(world, ("ds_add", "a.example", 1))
        with world.db.write() as s:
            s.execute(update(DsRecord).values(digest="AB" * 32))
        with world.db.read() as s:
            assert zonedigest.differing(s, zone=(1, "example.")) == ("a.example.",)
            assert zonedigest.differing(s, ["a.example.", "b.example."]) == ("a.example.",)
            assert zonedigest.table_sum(s, 1) != Tally.of(zonedigest.registry_records(s, zone_id=1))
        apply_hot(world, ("ds_add", "a.example", 2))
        apply(world, ("add_ns", "a.example", "ns2.ext.net"))
        with world.db.read() as s:
            assert zonedigest.differing(s, zone=(1, "example.")) == ("a.example.",)
            assert running_sum(s) == zonedigest.table_sum(s, 1)


def test_rebuild_backfills_the_ledger(tmp_path: Path) -> None:
    """The migration's back-fill (and a bulk load's): the ledger from the rows."""
    with world_on("sqlite", tmp_path) as world:
        world.add_registrar("alpha")
        for op in SETUP:
            apply(world, op)
        with world.db.write() as s:
            expected = zonedigest.table_sum(s, 1)
            s.execute(ZoneDigest.__table__.delete())  # type: ignore[attr-defined]
            assert zonedigest.table_sum(s, 1) == Tally()
            assert zonedigest.rebuild(s) == expected
        with world.db.read() as s:
            assert (
                zonedigest.table_sum(s, 1) == expected
                and zonedigest.differing(s, zone=(1, "example.")) == ()
            )
            assert expected.count > 0


ROWS = [
    "INSERT INTO registrar (id, client_id, name, email, password_hash, enabled, created_at)"
    " VALUES (1, 'alpha', 'Alpha', 'a@b.test', 'x', TRUE, '2026-01-01 00:00:00+00')",
    *(
        "INSERT INTO domain (id, name, registrar_id, creator_id, auth_hash, created_at,"
        f" expires_at) VALUES ({i}, 'd{i}.example', 1, 1, 'x', '2026-01-01 00:00:00+00',"
        " '2027-01-01 00:00:00+00')"
        for i in (1, 2)
    ),
    "INSERT INTO host (id, name, registrar_id, creator_id, parent_name, created_at)"
    " VALUES (1, 'ns1.d1.example', 1, 1, 'd1.example', '2026-01-01 00:00:00+00')",
    "INSERT INTO host_address (host_id, address, version) VALUES (1, '192.0.2.1', 4)",
    "INSERT INTO domain_ns (domain_id, host_id) VALUES (1, 1), (2, 1)",
    "INSERT INTO ds_record (domain_id, key_tag, algorithm, digest_type, digest)"
    f" VALUES (2, 7, 13, 2, '{'AB' * 32}')",
]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_migration_backfills_the_ledger(backend: str, tmp_path: Path) -> None:
    """A registry at the previous revision, with rows: the upgrade creates the ledger
    and fills it from them (2 NS, 1 DS, 1 glue A)."""
    with world_on(backend, tmp_path) as world:
        with world.db.engine.begin() as conn:
            command.downgrade(alembic_config("registry", conn), "0003_console_users")
        with world.db.engine.begin() as conn:
            for statement in ROWS:
                conn.execute(text(statement))
        world.db.upgrade(origin="example.")  # a registry in use: its zone must be named
        with world.db.read() as s:
            assert zonedigest.differing(s, zone=(1, "example.")) == ()
            assert zonedigest.table_sum(s, 1).count == 4
            assert zonedigest.table_sum(s, 1) == Tally.of(zonedigest.registry_records(s, zone_id=1))


def test_limbs_sum_without_overflow() -> None:
    big = Tally((1 << 256) - 1, 3)
    assert Tally.from_limbs(3, big.limbs()) == big
    # Limbs only ever added to: any sum of stored limbs reduces to the sum's digest.
    doubled = [a + b for a, b in zip(big.limbs(), big.limbs(), strict=True)]
    assert Tally.from_limbs(6, doubled) == big.plus(big)
