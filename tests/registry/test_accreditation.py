"""Registrars accredited per zone (decision 57): from a date, until a revocation; a new
registrar of a one-zone registry is accredited for it, of a registry of several for none."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.fixtures.registry import START, RegistryWorld
from tldsec.errors import InvalidValue, NotAccredited, ObjectNotFound
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


def test_each_zone_routes_under_its_own_rules(
    registry_world: RegistryWorld, tmp_path: Path
) -> None:
    """``rules_by_zone`` gives each ``[zones.NAME]`` its reserved names; ``load_routes``
    pairs them with the registry's zone ids and refuses a zone tldsec.toml lacks."""
    from tests.settings.test_zones import home_with
    from tldsec.errors import ConfigError
    from tldsec.registry.context import rules_by_zone
    from tldsec.registry.routing import NO_ACCREDITATIONS, Access, load_routes
    from tldsec.settings import load_settings

    home = home_with(
        tmp_path,
        '[zones.example]\nreserved_names = ["nic"]\n[zones.shop]\nreserved_names = ["cart"]\n',
    )
    by_zone = rules_by_zone(load_settings(home))
    assert (
        "cart.shop" in by_zone["shop."].reserved
        and "cart.example" not in by_zone["example."].reserved
    )
    ids = _zones(registry_world, "shop.", "example.")
    with registry_world.db.read() as s:
        routes = load_routes(s, by_zone)
    assert routes is not None and routes.routes["shop."].rules.zone_id == ids["shop."]
    with pytest.raises(NotAccredited):
        routes.route("a.shop", Access.LET_GO, "alpha", NO_ACCREDITATIONS, START)
    _zones(registry_world, "org.")
    with (
        registry_world.db.read() as s,
        pytest.raises(
            ConfigError, match=r"serves org\. but tldsec.toml has no \[zones\.org\] table"
        ),
    ):
        load_routes(s, by_zone)


def test_a_session_weighs_its_accreditations_at_each_command_s_now() -> None:
    """Read at login, weighed per command: an accreditation that starts or ends later
    binds an open session at that instant (decision 61)."""
    from tldsec.registry.routing import Accreditations

    day = timedelta(days=1)
    held = Accreditations({1: (START + day, START + 3 * day), 2: (START - day, None)})
    assert held.standing(1, START) == (False, None)  # not yet
    assert held.standing(1, START + day) == (True, None)
    assert held.standing(1, START + 3 * day) == (False, START + 3 * day)  # ended
    assert held.standing(2, START + 300 * day) == (True, None)
    assert held.standing(3, START) == (False, None)  # never
