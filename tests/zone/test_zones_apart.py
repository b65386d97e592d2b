"""Two zones in one registry database (decision 57, issue 19 item 4): each zone's serial,
build, pending changes and lease are its own. SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.fixtures.registry import START, RegistryWorld
from tests.zone.two_zones import add_zones, build, delegation_records, two_zones
from tldsec.cycle import changes
from tldsec.errors import ConfigError
from tldsec.registry import zonedigest
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.models import Host, ZoneChange, ZoneSerial
from tldsec.registry.zonedigest import Tally
from tldsec.registry.zonerows import zone_id_of
from tldsec.zone.serial import allocate_serial


def test_a_zone_is_found_by_its_origin_and_an_unknown_one_names_zone_add(
    registry_world_any: RegistryWorld,
) -> None:
    ids = add_zones(registry_world_any, "example.", "shop.")
    with registry_world_any.db.read() as s:
        assert zone_id_of(s, "shop.") == ids["shop."]
        assert zone_id_of(s, "EXAMPLE") == ids["example."]
        with pytest.raises(ConfigError, match=r"no zone club\. .*'tldsec zone add club\.'"):
            zone_id_of(s, "club.")


def test_each_zone_allocates_its_own_serials(registry_world_any: RegistryWorld) -> None:
    """Each zone locks and advances its own ``zone_serial`` row: a run of serials in one
    zone moves the other not at all (decision 57, "Lease, serial ... per zone")."""
    db = registry_world_any.db
    ids = add_zones(registry_world_any, "example.", "shop.")
    example, shop = ids["example."], ids["shop."]
    with db.write() as s:
        first = allocate_serial(s, example, START)
        assert allocate_serial(s, example, START) == first + 1
        assert allocate_serial(s, example, START) == first + 2
        # shop. starts from the time as example. did, not from example.'s last serial
        assert allocate_serial(s, shop, START) == first
        assert allocate_serial(s, shop, START) == first + 1
    with db.read() as s:
        rows = {r.id: r.serial for r in s.query(ZoneSerial)}
    assert rows == {example: first + 2, shop: first + 1}
    later = START + timedelta(hours=1)
    with db.write() as s:
        assert allocate_serial(s, shop, later) == first + 3600
        assert allocate_serial(s, example, START) == first + 3  # still its own sequence


def test_each_zone_builds_its_delegations_and_only_its_own_glue(
    registry_world_any: RegistryWorld, tmp_path: Path
) -> None:
    """RFC 9471 in-domain glue: ns1.b.shop serves d.example but is out of bailiwick in
    example. (no glue there); each zone's digest is its own rows' (decision 65)."""
    world = registry_world_any
    rules = two_zones(world)
    for origin in rules:
        build(world, rules[origin], tmp_path / f"{origin}zone")
    assert delegation_records(tmp_path / "example.zone") == [
        "example. NS ns.registry-ops.net.",
        "ns1.a.example. A 192.0.2.1",
        "d.example. NS ns1.a.example.",
        "d.example. NS ns1.b.shop.",
    ]
    assert delegation_records(tmp_path / "shop.zone") == [
        "shop. NS ns.registry-ops.net.",
        "ns1.b.shop. A 192.0.2.2",
        "e.shop. NS ns1.a.example.",
        "e.shop. NS ns1.b.shop.",
    ]
    with world.db.read() as s:
        assert {n: z for n, z in s.execute(select(Host.name, Host.zone_id))} == {
            "ns1.a.example": 1,
            "ns1.b.shop": 2,
        }
        for origin, r in rules.items():
            assert r.zone_id is not None
            records = zonedigest.registry_records(s, zone_id=r.zone_id)
            assert zonedigest.table_sum(s, r.zone_id) == Tally.of(records)
            assert zonedigest.differing(s, zone=(r.zone_id, origin)) == ()
        assert zonedigest.table_sum(s, 1).count == 3  # 2 NS + 1 glue


def test_a_change_in_one_zone_is_that_zones_alone(
    registry_world_any: RegistryWorld, tmp_path: Path
) -> None:
    """A name server removed in shop. is a zone_change of shop.: example.'s next (incremental)
    build has no change to read and writes the same records; shop.'s has one."""
    world = registry_world_any
    rules = two_zones(world)
    for origin in rules:
        build(world, rules[origin], tmp_path / f"{origin}zone")
    before = delegation_records(tmp_path / "example.zone")
    with world.db.write() as s:
        tx = replace(world.tx("alpha"), rules=rules["shop."])
        update_domain(s, tx, DomainUpdate("e.shop", rem_ns=("ns1.a.example",)))
    with world.db.read() as s:
        last = s.scalars(select(ZoneChange).order_by(ZoneChange.id.desc())).first()
        assert last is not None and (last.name, last.zone_id) == ("e.shop", 2)
    example = build(world, rules["example."], tmp_path / "example.zone")
    shop = build(world, rules["shop."], tmp_path / "shop.zone")
    assert example.incremental and example.reason.startswith("0 registry changes")
    assert shop.incremental and shop.reason.startswith("1 registry changes")
    assert delegation_records(tmp_path / "example.zone") == before
    assert "e.shop. NS ns1.a.example." not in delegation_records(tmp_path / "shop.zone")
    assert "e.shop. NS ns1.b.shop." in delegation_records(tmp_path / "shop.zone")


def test_a_change_or_a_held_change_is_pending_in_its_zone_alone(
    registry_world_any: RegistryWorld,
) -> None:
    """What ``Cycle.pending`` asks (cycle/changes.py): a change in shop. is pending for
    shop. only; example., held at its last build (the collapse guard), stays held
    through shop.'s changes and wakes for a change of its own; an id a build could not
    see yet is late for its own zone only."""
    world = registry_world_any
    rules = two_zones(world)
    example, shop = (rules[o].zone_id for o in ("example.", "shop."))
    assert example is not None and shop is not None
    with world.db.read() as s:
        built = s.scalar(select(func.max(ZoneChange.id)))  # both zones built up to here
    assert built is not None
    world.clock.advance(timedelta(minutes=5))
    shop_at = world.clock.now()
    with world.db.write() as s:
        tx = replace(world.tx("alpha"), rules=rules["shop."])
        update_domain(s, tx, DomainUpdate("e.shop", rem_ns=("ns1.a.example",)))
    with world.db.read() as s:
        shop_change = s.scalar(select(func.max(ZoneChange.id)))
        assert shop_change is not None and shop_change > built
        assert changes.oldest_change_after(s, shop, built) == shop_at
        assert changes.oldest_change_after(s, example, built) is None
        # example.'s held build saw up to ``built``: shop.'s change does not wake it
        assert not changes.changed_after(s, example, built)
        assert changes.changed_after(s, shop, built)
        assert changes.oldest_late_change(s, example, [shop_change]) is None
        assert changes.oldest_late_change(s, shop, [shop_change]) == shop_at
    world.clock.advance(timedelta(minutes=5))
    with world.db.write() as s:
        tx = replace(world.tx("alpha"), rules=rules["example."])
        update_domain(s, tx, DomainUpdate("d.example", rem_ns=("ns1.b.shop",)))
    with world.db.read() as s:
        assert changes.changed_after(s, example, built)  # its own change wakes it
        assert changes.oldest_change_after(s, example, built) == world.clock.now()
        assert changes.oldest_change_after(s, shop, shop_change) is None
