"""Two zones in one registry database (decision 57, issue 19 item 4): each zone's serial,
build, pending changes and lease are its own. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fixtures.registry import START, RegistryWorld
from tldsec.errors import ConfigError
from tldsec.registry.models import Zone, ZoneSerial
from tldsec.registry.zone_rows import zone_id_of
from tldsec.zone.serial import allocate_serial


def _zones(world: RegistryWorld, *origins: str) -> dict[str, int]:
    with world.db.write() as s:
        rows = [Zone(origin=o, added_at=START) for o in origins]
        s.add_all(rows)
        s.flush()
        return {r.origin: r.id for r in rows}


def test_a_zone_is_found_by_its_origin_and_an_unknown_one_names_zone_add(
    registry_world_any: RegistryWorld,
) -> None:
    ids = _zones(registry_world_any, "example.", "shop.")
    with registry_world_any.db.read() as s:
        assert zone_id_of(s, "shop.") == ids["shop."]
        assert zone_id_of(s, "EXAMPLE") == ids["example."]
        with pytest.raises(ConfigError, match=r"no zone club\. .*'tldsec zone add club\.'"):
            zone_id_of(s, "club.")


def test_each_zone_allocates_its_own_serials(registry_world_any: RegistryWorld) -> None:
    """Each zone locks and advances its own ``zone_serial`` row: a run of serials in one
    zone moves the other not at all (decision 57, "Lease, serial ... per zone")."""
    db = registry_world_any.db
    ids = _zones(registry_world_any, "example.", "shop.")
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
