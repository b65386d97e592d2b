"""The zone of a digest row's owner (``zonedigest.owner_zone``, decision 75): the zone whose
origin is the owner's suffix, else 1, the column's default. SQLite's executemany and the
rebuild use the SQLAlchemy expression, PostgreSQL's unnest upsert its rendering as text:
the same owners at the zones' boundaries take the same zone on both.

Nested origins are not among the cases: a home refuses them (its settings,
``_refuse_nested``, and ``tldsec zone add`` against the registry's rows, ``nested_with``;
decision 57), and with them the rule would name two zones."""

from __future__ import annotations

from sqlalchemy import select

from tests.fixtures.registry import START, RegistryWorld
from tldsec.registry import zonedigest
from tldsec.registry.models import Zone, ZoneDigest
from tldsec.registry.zonedigest import Tally

# Zone ids 2 and 3, so that the default (1) is no zone's own id.
ORIGINS = {"example.": 2, "shop.": 3}
EXPECTED = {
    "a.example.": 2,
    "ns1.a.example.": 2,  # a name below a delegation: its zone's
    "shop.example.": 2,  # another origin's label inside this zone
    "example.shop.": 3,
    "b.shop.": 3,
    "example.": 1,  # the origin itself is not under it (no ledger owner is an apex)
    "shop.": 1,
    "xshop.": 1,  # a suffix, but not at a label boundary
    "a.example-shop.": 1,
    "a.other.": 1,  # in no zone of the registry
}


def zones_of(world: RegistryWorld) -> dict[str, int]:
    """The zone each owner of ``EXPECTED`` takes when its first row is added."""
    with world.db.write() as s:
        s.add_all(Zone(id=i, origin=o, added_at=START) for o, i in ORIGINS.items())
    deltas = {owner: Tally(n + 1, 1) for n, owner in enumerate(sorted(EXPECTED))}
    with world.db.write() as s:
        zonedigest.add_to_ledger(s, deltas)  # no zone named: each owner's, in the statement
    with world.db.snapshot() as s:
        rows = s.execute(select(ZoneDigest.owner, ZoneDigest.zone_id)).all()
    return {owner: zone_id for owner, zone_id in rows}


def test_owners_at_zone_boundaries_take_the_same_zone_on_both_dialects(
    registry_world_any: RegistryWorld,
) -> None:
    assert zones_of(registry_world_any) == EXPECTED
