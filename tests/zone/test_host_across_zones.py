"""A host of one zone renamed while it serves domains of another (issue 19, decision 72;
decision 65's "not done"): the change is a zone_change of every zone whose delegations
it alters, in the same transaction, so each zone's incremental build rebuilds them and
its digest still matches its rows. SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select

from tests.fixtures.registry import RegistryWorld
from tests.zone.two_zones import APEX, TTL, build, delegation_records, two_zones
from tldsec.cycle import changes
from tldsec.registry import zonedigest
from tldsec.registry.hosts import HostAddr, HostUpdate, update_host
from tldsec.registry.models import ZoneChange
from tldsec.zone.full import build_full
from tldsec.zone.serial import allocate_serial


def test_a_host_renamed_in_one_zone_changes_the_delegations_of_the_other(
    registry_world_any: RegistryWorld, tmp_path: Path
) -> None:
    world = registry_world_any
    rules = two_zones(world)  # ns1.a.example (zone example.) serves d.example and e.shop
    example, shop = rules["example."].zone_id, rules["shop."].zone_id
    assert example is not None and shop is not None
    for origin in rules:
        build(world, rules[origin], tmp_path / f"{origin}zone")
    with world.db.read() as s:
        built = s.scalar(select(func.max(ZoneChange.id)))
    assert built is not None
    with world.db.write() as s:
        tx = replace(world.tx("alpha"), rules=rules["example."])
        update_host(
            s,
            tx,
            HostUpdate(
                "ns1.a.example", new_name="ns2.a.example", add_addr=(HostAddr("192.0.2.9", 4),)
            ),
        )
    with world.db.read() as s:
        rows = s.scalars(select(ZoneChange).where(ZoneChange.id > built)).all()
        assert {(r.zone_id, r.name, r.reason) for r in rows} == {
            (example, "ns1.a.example", "host-update"),
            (shop, "ns1.a.example", "host-update"),
        }
        assert len({r.sv_trid for r in rows}) == 1  # one transaction
        assert changes.changed_after(s, shop, built)
        # each zone's digest ledger still equals its rows: no refusal at reconciliation
        for origin, r in rules.items():
            assert r.zone_id is not None
            assert zonedigest.differing(s, zone=(r.zone_id, origin)) == ()
            assert zonedigest.table_sum(s, r.zone_id) == zonedigest.Tally.of(
                zonedigest.registry_records(s, zone_id=r.zone_id)
            )

    shop_rules = rules["shop."]
    incremental = build(world, shop_rules, tmp_path / "shop.zone")
    assert incremental.incremental
    with world.db.write() as s:
        serial = allocate_serial(s, shop, world.clock.now())
    with world.db.snapshot() as s:
        build_full(
            s, tmp_path / "shop-full.zone", shop, "shop.", APEX, TTL, shop_rules, serial,
            world.clock.now(), "the reference", ledger=True,
        )  # fmt: skip
    assert delegation_records(tmp_path / "shop.zone") == delegation_records(
        tmp_path / "shop-full.zone"
    )
    assert "e.shop. NS ns2.a.example." in delegation_records(tmp_path / "shop.zone")
    assert "e.shop. NS ns1.a.example." not in delegation_records(tmp_path / "shop.zone")
    example_build = build(world, rules["example."], tmp_path / "example.zone")
    assert example_build.incremental
    assert "ns2.a.example. A 192.0.2.9" in delegation_records(tmp_path / "example.zone")
