"""Host services (RFC 5732): glue rules, superordinate domain, in-use protection."""

from __future__ import annotations

import pytest

from tests.fixtures.registry import RegistryWorld
from tldsec.errors import (
    AssociationProhibits,
    InvalidValue,
    NotSponsor,
    ObjectExists,
    ObjectNotFound,
    PolicyRefused,
    StatusProhibits,
)
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.hosts import (
    HostAddr,
    HostUpdate,
    check_hosts,
    create_host,
    delete_host,
    host_info,
    update_host,
)

V4 = HostAddr("192.0.2.10", 4)
V6 = HostAddr("2001:DB8::10", 6)


@pytest.fixture
def world(registry_world: RegistryWorld) -> RegistryWorld:
    registry_world.add_registrar("alpha")
    registry_world.add_registrar("beta")
    with registry_world.db.write() as s:
        create_domain(s, registry_world.tx("alpha"), DomainCreate("one.example", "auth-1"))
    return registry_world


def test_in_zone_host_with_glue(world: RegistryWorld) -> None:
    with world.db.write() as s:
        create_host(s, world.tx("alpha"), "ns1.one.example", [V4, V6])
        view = host_info(s, world.tx("beta"), "ns1.one.example")
    assert view.addresses == (HostAddr("192.0.2.10", 4), HostAddr("2001:db8::10", 6))
    assert view.statuses == ("ok",)
    assert view.sponsor == "alpha"


def test_placement_rules(world: RegistryWorld) -> None:
    with world.db.write() as s, pytest.raises(PolicyRefused, match="needs at least one address"):
        create_host(s, world.tx("alpha"), "ns1.one.example")
    with world.db.write() as s, pytest.raises(PolicyRefused, match="outside the TLD"):
        create_host(s, world.tx("alpha"), "ns1.hoster.net", [V4])
    with world.db.write() as s, pytest.raises(ObjectNotFound, match="superordinate"):
        create_host(s, world.tx("alpha"), "ns1.two.example", [V4])
    with world.db.write() as s, pytest.raises(NotSponsor):
        create_host(s, world.tx("beta"), "ns1.one.example", [V4])
    with world.db.write() as s, pytest.raises(InvalidValue, match="not an IPv6"):
        create_host(s, world.tx("alpha"), "ns1.one.example", [HostAddr("192.0.2.1", 6)])
    with world.db.write() as s, pytest.raises(PolicyRefused, match="not usable"):
        create_host(s, world.tx("alpha"), "ns1.one.example", [HostAddr("127.0.0.1", 4)])


def test_duplicate_host(world: RegistryWorld) -> None:
    with world.db.write() as s:
        create_host(s, world.tx("alpha"), "ns.hoster.net")
    with world.db.write() as s, pytest.raises(ObjectExists):
        create_host(s, world.tx("beta"), "NS.hoster.net.")
    with world.db.read() as s:
        (answer,) = check_hosts(s, world.tx("beta"), ["ns.hoster.net"])
    assert not answer.available and answer.reason == "In use"


def test_a_host_in_use_cannot_be_deleted(world: RegistryWorld) -> None:
    with world.db.write() as s:
        tx = world.tx("alpha")
        create_host(s, tx, "ns.hoster.net")
        create_domain(s, tx, DomainCreate("two.example", "auth-2", ns=("ns.hoster.net",)))
    with world.db.write() as s, pytest.raises(AssociationProhibits):
        delete_host(s, world.tx("alpha"), "ns.hoster.net")
    with world.db.read() as s:
        assert "linked" in host_info(s, world.tx("alpha"), "ns.hoster.net").statuses


def test_only_the_sponsor_updates_or_deletes(world: RegistryWorld) -> None:
    with world.db.write() as s:
        create_host(s, world.tx("alpha"), "ns.hoster.net")
    with world.db.write() as s, pytest.raises(NotSponsor):
        delete_host(s, world.tx("beta"), "ns.hoster.net")
    with world.db.write() as s, pytest.raises(NotSponsor):
        update_host(
            s, world.tx("beta"), HostUpdate("ns.hoster.net", add_status=("clientUpdateProhibited",))
        )
    with world.db.write() as s:
        delete_host(s, world.tx("alpha"), "ns.hoster.net")


def test_update_addresses_and_rename(world: RegistryWorld) -> None:
    with world.db.write() as s:
        create_host(s, world.tx("alpha"), "ns1.one.example", [V4])
    with world.db.write() as s:
        update_host(
            s,
            world.tx("alpha"),
            HostUpdate(
                "ns1.one.example", add_addr=(V6,), rem_addr=(V4,), new_name="ns2.one.example"
            ),
        )
    with world.db.read() as s:
        assert host_info(s, world.tx("alpha"), "ns2.one.example").addresses == (
            HostAddr("2001:db8::10", 6),
        )
    with world.db.write() as s, pytest.raises(PolicyRefused, match="needs at least one address"):
        update_host(s, world.tx("alpha"), HostUpdate("ns2.one.example", rem_addr=(V6,)))


def test_update_prohibited_status(world: RegistryWorld) -> None:
    with world.db.write() as s:
        create_host(s, world.tx("alpha"), "ns1.one.example", [V4])
        update_host(
            s,
            world.tx("alpha"),
            HostUpdate("ns1.one.example", add_status=("clientUpdateProhibited",)),
        )
    with world.db.write() as s, pytest.raises(StatusProhibits):
        update_host(s, world.tx("alpha"), HostUpdate("ns1.one.example", add_addr=(V6,)))
    with world.db.write() as s:
        update_host(
            s,
            world.tx("alpha"),
            HostUpdate("ns1.one.example", rem_status=("clientUpdateProhibited",)),
        )
