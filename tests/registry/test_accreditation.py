"""Registrars accredited per zone (decision 57): from a date, until a revocation; a new
registrar of a one-zone registry is accredited for it, of a registry of several for none."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fixtures.registry import START, RegistryWorld
from tldsec.errors import InvalidValue, ObjectNotFound
from tldsec.registry import accreditation
from tldsec.registry.models import RegistrarZone, Zone


def _zones(world: RegistryWorld, *origins: str) -> dict[str, int]:
    with world.db.write() as s:
        rows = [Zone(origin=o, added_at=START) for o in origins]
        s.add_all(rows)
        s.flush()
        return {r.origin: r.id for r in rows}


def test_a_new_registrar_of_a_one_zone_registry_is_accredited_for_it(
    registry_world_any: RegistryWorld,
) -> None:
    world = registry_world_any
    ids = _zones(world, "example.")
    alpha = world.add_registrar("alpha")
    assert alpha.registrar_id is not None
    with world.db.read() as s:
        got = accreditation.accredited(s, alpha.registrar_id, ids["example."], START)
    assert got.active and got.since == START


def test_with_several_zones_a_new_registrar_is_accredited_for_none(
    registry_world: RegistryWorld,
) -> None:
    ids = _zones(registry_world, "example.", "shop.")
    alpha = registry_world.add_registrar("alpha")
    assert alpha.registrar_id is not None
    with registry_world.db.read() as s:
        for zone_id in ids.values():
            got = accreditation.accredited(s, alpha.registrar_id, zone_id, START)
            assert not got.active and not got.revoked


def test_accredit_from_a_date_and_revoke_at_one(registry_world_any: RegistryWorld) -> None:
    world = registry_world_any
    ids = _zones(world, "example.", "shop.")
    alpha = world.add_registrar("alpha")
    assert alpha.registrar_id is not None
    later, end = START + timedelta(days=2), START + timedelta(days=30)
    with world.db.write() as s:
        accreditation.accredit(s, world.tx(), "alpha", "SHOP", later)
    with world.db.write() as s, pytest.raises(InvalidValue, match=r"already accredited for shop\."):
        accreditation.accredit(s, world.tx(), "alpha", "shop.")
    with world.db.write() as s:
        accreditation.revoke(s, world.tx(), "alpha", "shop.", end)
    with world.db.read() as s:
        at = lambda t: accreditation.accredited(s, alpha.registrar_id, ids["shop."], t)  # noqa: E731
        assert not at(START).active and not at(START).revoked  # not yet
        assert at(later).active and at(end - timedelta(seconds=1)).active
        assert at(end).revoked and at(end).ended == end and not at(end).active
        assert not accreditation.accredited(s, alpha.registrar_id, ids["example."], later).active
    shop = [e for e in world.events if e[0] in ("registrar.accredit", "registrar.revoke")]
    assert [(e[0], e[2]["registrar"], e[2]["zone"]) for e in shop] == [
        ("registrar.accredit", "alpha", "shop."),
        ("registrar.revoke", "alpha", "shop."),
    ]
    # Accredited again: the row opens from the new date.
    with world.db.write() as s:
        accreditation.accredit(s, world.tx(), "alpha", "shop.", end + timedelta(days=1))
        row = s.get(RegistrarZone, (alpha.registrar_id, ids["shop."]))
        assert row is not None and row.revoked_at is None


def test_refusals_name_what_is_wrong(registry_world: RegistryWorld) -> None:
    _zones(registry_world, "example.", "shop.")
    registry_world.add_registrar("alpha")
    with registry_world.db.write() as s:
        with pytest.raises(ObjectNotFound, match=r"no zone org\. \(its zones: example\., shop\.\)"):
            accreditation.accredit(s, registry_world.tx(), "alpha", "org")
        with pytest.raises(ObjectNotFound, match="no registrar 'nobody'"):
            accreditation.accredit(s, registry_world.tx(), "nobody", "shop.")
        with pytest.raises(InvalidValue, match=r"not accredited for shop\."):
            accreditation.revoke(s, registry_world.tx(), "alpha", "shop.")
        accreditation.accredit(s, registry_world.tx(), "alpha", "shop.", START)
        with pytest.raises(InvalidValue, match="cannot end before"):
            accreditation.revoke(s, registry_world.tx(), "alpha", "shop.", START - timedelta(1))
