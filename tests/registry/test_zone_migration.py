"""The registry's zones (decisions 57 and 60): a registry written before them becomes its
home's zone 1 in place (every row, every registrar accredited from its creation, hosts in
bailiwick), a registry in use is not migrated without its origin, and a writer that names
no zone still writes zone 1's rows with the same statements (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from tests.fixtures.epp import RunningServer
from tests.registry.test_zone_digest import ROWS
from tests.zone.test_incremental import world_on
from tldsec.db.migrate import alembic_config
from tldsec.errors import ConfigError
from tldsec.registry import zonedigest
from tldsec.registry.ds_rules import DsData
from tldsec.registry.models import (
    Domain,
    Host,
    RegistrarZone,
    SerialTrace,
    Zone,
    ZoneChange,
    ZoneDigest,
    ZoneSerial,
)

BEFORE = "0006_change_trace"
DIGEST = "SELECT owner, count, d0, d1, d2, d3, d4, d5, d6, d7 FROM zone_digest ORDER BY owner"
MORE = [
    "INSERT INTO host (id, name, registrar_id, creator_id, created_at)"
    " VALUES (2, 'ns.other.test', 1, 1, '2026-01-01 00:00:00+00')",
    "INSERT INTO host (id, name, registrar_id, creator_id, created_at)"
    " VALUES (3, 'ns1.notexample', 1, 1, '2026-01-01 00:00:00+00')",
    "INSERT INTO zone_change (id, at, name, reason) VALUES"
    " (41, '2026-01-02 00:00:00+00', 'd1.example', 'create')",
    "INSERT INTO zone_serial (id, serial, built_at) VALUES"
    " (1, 2026010203, '2026-01-02 00:00:00+00')",
    "INSERT INTO serial_trace (serial, stage, node, at) VALUES"
    " (2026010203, 'built', '', '2026-01-02 00:00:00+00')",
]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_one_zone_registry_becomes_zone_1_in_place(backend: str, tmp_path: Path) -> None:
    with world_on(backend, tmp_path) as world:
        with world.db.engine.begin() as conn:
            command.downgrade(alembic_config("registry", conn), BEFORE)
            for statement in [*ROWS, *MORE]:
                conn.execute(text(statement))
            session = Session(bind=conn)
            zonedigest.rebuild(session, zones=False)  # the ledger of the rows, as 0004 fills it
            session.flush()
        with world.db.engine.begin() as conn:
            digest = conn.execute(text(DIGEST)).all()
        assert len(digest) == 3  # d1 (NS), d2 (NS, DS), ns1.d1 (glue)
        with pytest.raises(ConfigError, match=r"holds a registry \(registrar, domain, host, "):
            world.db.upgrade()  # not told its zone: refused, nothing changed
        world.db.upgrade(origin="Example.")
        with world.db.read() as s:
            zone = s.scalars(select(Zone)).one()
            assert (zone.id, zone.origin, zone.policy, zone.closed_at) == (
                1, "example.", "default", None,
            )  # fmt: skip
            accredited = s.execute(
                select(RegistrarZone.registrar_id, RegistrarZone.zone_id,
                       RegistrarZone.accredited_at, RegistrarZone.revoked_at)
            ).all()  # fmt: skip
            assert accredited == [(1, 1, datetime(2026, 1, 1, tzinfo=UTC), None)]
            assert set(s.scalars(select(Domain.zone_id))) == {1}
            hosts = dict(s.execute(select(Host.name, Host.zone_id)).all())
            assert hosts == {"ns1.d1.example": 1, "ns.other.test": None, "ns1.notexample": None}
            assert s.execute(select(ZoneChange.id, ZoneChange.zone_id)).all() == [(41, 1)]
            assert s.execute(select(ZoneSerial.id, ZoneSerial.serial)).all() == [(1, 2026010203)]
            assert s.execute(select(SerialTrace.zone_id, SerialTrace.serial)).all() == [
                (1, 2026010203)
            ]
            assert set(s.scalars(select(ZoneDigest.zone_id))) == {1}
            assert zonedigest.differing(s, zone=(1, "example.")) == ()
        with world.db.engine.begin() as conn:
            after = conn.execute(text(DIGEST)).all()
        assert after == digest  # the ledger kept, not rebuilt


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_writer_naming_no_zone_writes_zone_1(backend: str, tmp_path: Path) -> None:
    """A new registry has no zone until one is made; what EPP writes today (no zone named)
    is zone 1's, and two zones' traces may share a serial."""
    with world_on(backend, tmp_path) as world:
        with world.db.read() as s:
            assert s.scalar(select(func.count()).select_from(Zone)) == 0
        world.add_registrar("alpha")
        with world.db.write() as s:
            s.add(ZoneChange(at=datetime(2026, 1, 1, tzinfo=UTC), name="x.example", reason="t"))
            at = datetime(2026, 1, 1, tzinfo=UTC)
            s.add(SerialTrace(serial=7, stage="built", node="", at=at))
            s.add(SerialTrace(zone_id=2, serial=7, stage="built", node="", at=at))
        with world.db.read() as s:
            assert set(s.scalars(select(ZoneChange.zone_id))) == {1}
            assert sorted(s.scalars(select(SerialTrace.zone_id))) == [1, 2]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_new_registry_told_its_origin_starts_with_zone_1(backend: str, tmp_path: Path) -> None:
    with world_on(backend, tmp_path) as world:
        with world.db.engine.begin() as conn:
            command.downgrade(alembic_config("registry", conn), BEFORE)
        world.db.upgrade(origin="example")
        world.add_registrar("alpha")  # accredited by piece 2's 'registrar accredit'
        with world.db.write() as s:
            s.add(Zone(origin="shop.", added_at=datetime(2026, 1, 1, tzinfo=UTC)))
        with world.db.read() as s:
            assert s.execute(select(Zone.id, Zone.origin).order_by(Zone.id)).all() == [
                (1, "example."), (2, "shop."),
            ]  # fmt: skip


def test_epps_hot_path_reads_no_zone_table(epp_any: RunningServer) -> None:
    """Decision 60: a domain's create and DS update write zone 1's rows by the database's
    default, without looking a zone up (no statement reads ``zone`` or
    ``registrar_zone``), and the rows are zone 1's."""
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = epp_any.world.db.engine
    client = epp_any.logged_in("alpha")
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert client.domain_create("zoned.example").code == 1000
        ds = DsData(key_tag=12345, algorithm=13, digest_type=2, digest="AB" * 32)
        assert client.domain_update_ds("zoned.example", add=(ds,)).code == 1000
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        client.close()
    assert statements
    lookups = [s for s in statements if re.search(r"\b(zone|registrar_zone)\b(?!_)", s)]
    assert lookups == []
    with epp_any.world.db.read() as s:
        assert s.scalar(select(Domain.zone_id).where(Domain.name == "zoned.example")) == 1
        assert set(s.scalars(select(ZoneChange.zone_id))) == {1}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_host_written_without_its_zone_takes_its_domains(backend: str, tmp_path: Path) -> None:
    """0010_host_zones: an in-zone host a writer left without ``zone_id`` (NULL since
    0007) takes its superordinate domain's zone; a host outside every zone keeps none."""
    with world_on(backend, tmp_path) as world:
        with world.db.engine.begin() as conn:
            command.downgrade(alembic_config("registry", conn), "0009_lease_per_zone")
            for statement in [
                *ROWS[:3],
                "INSERT INTO zone (id, origin, added_at) VALUES"
                " (1, 'example.', '2026-01-01 00:00:00+00'),"
                " (2, 'shop.', '2026-01-01 00:00:00+00')",
                "INSERT INTO domain (id, name, zone_id, registrar_id, creator_id, auth_hash,"
                " created_at, expires_at) VALUES (3, 'b.shop', 2, 1, 1, 'x',"
                " '2026-01-01 00:00:00+00', '2027-01-01 00:00:00+00')",
                "INSERT INTO host (id, name, registrar_id, creator_id, parent_name, created_at)"
                " VALUES (1, 'ns1.d1.example', 1, 1, 'd1.example', '2026-01-01 00:00:00+00'),"
                " (2, 'ns1.b.shop', 1, 1, 'b.shop', '2026-01-01 00:00:00+00'),"
                " (3, 'ns.other.test', 1, 1, NULL, '2026-01-01 00:00:00+00')",
            ]:
                conn.execute(text(statement))
        world.db.upgrade()
        with world.db.read() as s:
            found = {n: z for n, z in s.execute(select(Host.name, Host.zone_id))}
    assert found == {"ns1.d1.example": 1, "ns1.b.shop": 2, "ns.other.test": None}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_digest_row_takes_the_zone_of_its_owner(backend: str, tmp_path: Path) -> None:
    """0012_zone_digest_zones: the ledger rows every writer left in zone 1 (the column's
    default) take the zone whose origin their owner is under (decision 75); an owner under
    no zone keeps zone 1."""
    limbs = "0, 0, 0, 0, 0, 0, 0, 0"
    with world_on(backend, tmp_path) as world:
        with world.db.engine.begin() as conn:
            command.downgrade(alembic_config("registry", conn), "0011_trace_node_zones")
            for statement in [
                "INSERT INTO zone (id, origin, added_at) VALUES"
                " (1, 'example.', '2026-01-01 00:00:00+00'),"
                " (2, 'shop.', '2026-01-01 00:00:00+00')",
                "INSERT INTO zone_digest (owner, zone_id, count, d0, d1, d2, d3, d4, d5, d6,"
                f" d7) VALUES ('a.example.', 1, 1, {limbs}), ('a.shop.', 1, 2, {limbs}),"
                f" ('ns1.a.shop.', 1, 1, {limbs}), ('x.other.', 1, 1, {limbs})",
            ]:
                conn.execute(text(statement))
        world.db.upgrade()
        with world.db.read() as s:
            found = dict(s.execute(select(ZoneDigest.owner, ZoneDigest.zone_id)).all())
            shop = zonedigest.table_sum(s, 2)
    assert found == {"a.example.": 1, "a.shop.": 2, "ns1.a.shop.": 2, "x.other.": 1}
    assert shop.count == 3
