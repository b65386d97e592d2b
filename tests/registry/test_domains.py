"""Domain services: create, info, update (NS, status, DS), renew, delete, on both databases."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tests.fixtures.registry import RegistryWorld
from tldsec.errors import (
    DsRejected,
    LimitExceeded,
    ObjectExists,
    ObjectNotFound,
    PolicyRefused,
    StatusProhibits,
    ValueOutOfRange,
)
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import (
    DomainCreate,
    check_domains,
    create_domain,
    delete_domain,
    domain_info,
    renew_domain,
)
from tldsec.registry.ds_rules import DsData, Rule
from tldsec.registry.hosts import HostAddr, create_host, host_info
from tldsec.registry.models import HistoryEntry, ZoneChange

DS1 = DsData.of(11111, 13, 2, "11" * 32)
DS2 = DsData.of(22222, 8, 2, "22" * 32)
DS3 = DsData.of(33333, 13, 4, "33" * 48)


def setup(world: RegistryWorld) -> None:
    world.add_registrar("alpha")
    world.add_registrar("beta")
    with world.db.write() as s:
        create_host(s, world.tx("alpha"), "ns1.hoster.net")
        create_host(s, world.tx("alpha"), "ns2.hoster.net")


def create(world: RegistryWorld, name: str = "one.example", **kw: object) -> None:
    with world.db.write() as s:
        create_domain(s, world.tx("alpha"), DomainCreate(name=name, auth_info="auth-1", **kw))  # type: ignore[arg-type]


def info(world: RegistryWorld, name: str = "one.example"):  # type: ignore[no-untyped-def]
    with world.db.write() as s:
        return domain_info(s, world.tx("alpha"), name)


def update(world: RegistryWorld, client: str = "alpha", **kw: object) -> None:
    with world.db.write() as s:
        update_domain(s, world.tx(client), DomainUpdate(name="one.example", **kw))  # type: ignore[arg-type]


def counts(world: RegistryWorld) -> tuple[int, int]:
    with world.db.read() as s:
        return (
            s.scalar(select(func.count()).select_from(HistoryEntry)) or 0,
            s.scalar(select(func.count()).select_from(ZoneChange)) or 0,
        )


def test_create_then_info_shows_everything(registry_world_any: RegistryWorld) -> None:
    world = registry_world_any
    setup(world)
    create(world, ns=("ns1.hoster.net", "NS2.Hoster.Net."), ds=(DS1,), years=2)
    view = info(world)
    assert view.name == "one.example"
    assert view.ns == ("ns1.hoster.net", "ns2.hoster.net")
    assert view.ds == (DS1,)
    assert view.sponsor == view.creator == "alpha"
    assert view.statuses == ("ok",)
    assert view.expires_at == view.created_at.replace(year=view.created_at.year + 2)
    assert view.roid.endswith("-TLDSEC")


def test_a_domain_without_name_servers_is_inactive(registry_world: RegistryWorld) -> None:
    setup(registry_world)
    create(registry_world)
    assert info(registry_world).statuses == ("inactive",)


def test_create_writes_history_and_a_zone_change_in_its_transaction(
    registry_world: RegistryWorld,
) -> None:
    setup(registry_world)
    before = counts(registry_world)
    create(registry_world, ns=("ns1.hoster.net",))
    assert counts(registry_world) == (before[0] + 1, before[1] + 1)


def test_create_refusals(registry_world: RegistryWorld) -> None:
    world = registry_world
    setup(world)
    create(world)
    with pytest.raises(ObjectExists):
        create(world)
    with pytest.raises(PolicyRefused, match="not under the TLD"):
        create(world, name="one.other")
    with pytest.raises(PolicyRefused, match="directly below"):
        create(world, name="a.b.example")
    with pytest.raises(ObjectNotFound, match=r"ns9\.nowhere\.net"):
        create(world, name="two.example", ns=("ns9.nowhere.net",))
    with pytest.raises(ValueOutOfRange):
        create(world, name="two.example", years=11)
    with pytest.raises(DsRejected) as rejected:
        create(world, name="two.example", ds=(DsData.of(1, 13, 2, "AB" * 31),))
    assert [v.rule for v in rejected.value.violations] == [Rule.DIGEST_LENGTH]  # type: ignore[attr-defined]
    with world.db.read() as s:
        assert check_domains(s, world.tx("alpha"), ["two.example"])[0].available


def test_ds_lifecycle_create_add_remove_one_remove_all(registry_world_any: RegistryWorld) -> None:
    world = registry_world_any
    setup(world)
    create(world, ns=("ns1.hoster.net",), ds=(DS1,))
    update(world, ds_add=(DS2, DS3))
    assert info(world).ds == tuple(sorted((DS1, DS2, DS3)))
    update(world, ds_rem=(DS2,))
    assert info(world).ds == tuple(sorted((DS1, DS3)))
    update(world, ds_rem_all=True)
    assert info(world).ds == ()
    ds_events = [e for e in world.events if e[0] == "registry.ds.change"]
    assert ds_events[-1][2]["chain_of_trust_removed"] is True


def test_nine_ds_are_refused_and_nothing_changes(registry_world: RegistryWorld) -> None:
    setup(registry_world)
    create(registry_world, ds=(DS1,))
    before = counts(registry_world)
    eight_more = tuple(DsData.of(100 + i, 13, 2, f"{i:02x}" * 32) for i in range(8))
    with pytest.raises(DsRejected, match="would have 9 DS records"):
        update(registry_world, ds_add=eight_more)
    assert info(registry_world).ds == (DS1,)
    assert counts(registry_world) == before


def test_update_name_servers_and_limits(registry_world: RegistryWorld) -> None:
    world = registry_world
    setup(world)
    create(world, ns=("ns1.hoster.net",))
    update(world, add_ns=("ns2.hoster.net",), rem_ns=("ns1.hoster.net",))
    assert info(world).ns == ("ns2.hoster.net",)
    with pytest.raises(PolicyRefused, match="is not a name server"):
        update(world, rem_ns=("ns1.hoster.net",))
    with pytest.raises(PolicyRefused, match="already a name server"):
        update(world, add_ns=("ns2.hoster.net",))
    world.rules = type(world.rules)(origin=world.rules.origin, ds=world.rules.ds, max_ns=1)
    with pytest.raises(LimitExceeded):
        update(world, add_ns=("ns1.hoster.net",))


def test_client_update_prohibited_allows_only_its_removal(registry_world: RegistryWorld) -> None:
    setup(registry_world)
    create(registry_world)
    update(registry_world, add_status=("clientUpdateProhibited",))
    with pytest.raises(StatusProhibits):
        update(registry_world, ds_add=(DS1,))
    update(registry_world, rem_status=("clientUpdateProhibited",))
    update(registry_world, ds_add=(DS1,))


def test_registrars_cannot_set_server_statuses(registry_world: RegistryWorld) -> None:
    setup(registry_world)
    create(registry_world)
    with pytest.raises(PolicyRefused, match="serverHold"):
        update(registry_world, add_status=("serverHold",))
    update(registry_world, client="registry", add_status=("serverHold",))
    assert "serverHold" in info(registry_world).statuses


def test_renew_checks_the_current_expiry_date(registry_world: RegistryWorld) -> None:
    setup(registry_world)
    create(registry_world)
    expiry = info(registry_world).expires_at
    with registry_world.db.write() as s, pytest.raises(PolicyRefused, match="curExpDate"):
        renew_domain(s, registry_world.tx("alpha"), "one.example", date(2000, 1, 1), 1)
    with registry_world.db.write() as s:
        new = renew_domain(s, registry_world.tx("alpha"), "one.example", expiry.date(), 2)
    assert new.year == expiry.year + 2
    with registry_world.db.write() as s, pytest.raises(PolicyRefused, match="10 years"):
        renew_domain(s, registry_world.tx("alpha"), "one.example", new.date(), 9)


def test_delete_keeps_subordinate_hosts_used_elsewhere_as_orphans(
    registry_world: RegistryWorld,
) -> None:
    """DPS 6.6: the glue of a deleted domain that other domains use stays in the zone."""
    world = registry_world
    setup(world)
    create(world)
    with world.db.write() as s:
        tx = world.tx("alpha")
        create_host(s, tx, "ns1.one.example", [HostAddr("192.0.2.1", 4)])
        create_host(s, tx, "ns2.one.example", [HostAddr("192.0.2.2", 4)])
        create_domain(s, tx, DomainCreate("two.example", "auth-2", ns=("ns1.one.example",)))
    with world.db.write() as s:
        delete_domain(s, world.tx("alpha"), "one.example")
    with world.db.read() as s:
        assert host_info(s, world.tx("alpha"), "ns1.one.example").statuses == ("linked", "ok")
        with pytest.raises(ObjectNotFound):
            host_info(s, world.tx("alpha"), "ns2.one.example")
        with pytest.raises(ObjectNotFound):
            domain_info(s, world.tx("alpha"), "one.example")


def test_delete_prohibited_by_status(registry_world: RegistryWorld) -> None:
    setup(registry_world)
    create(registry_world)
    update(registry_world, add_status=("clientDeleteProhibited",))
    with registry_world.db.write() as s, pytest.raises(StatusProhibits):
        delete_domain(s, registry_world.tx("alpha"), "one.example")


def test_expiry_uses_the_transaction_time(registry_world: RegistryWorld) -> None:
    setup(registry_world)
    registry_world.clock.advance(timedelta(days=3))
    create(registry_world)
    assert info(registry_world).created_at == registry_world.clock.now()
