"""Domain transfers: request, approve/reject/cancel, server approval, poll messages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fixtures.registry import RegistryWorld
from tldsec.errors import (
    InvalidAuthInfo,
    NotEligible,
    NoTransferPending,
    NotSponsor,
    StatusProhibits,
    TransferPending,
)
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import DomainCreate, create_domain, domain_info
from tldsec.registry.hosts import HostAddr, create_host, host_info
from tldsec.registry.poll import poll_ack, poll_request
from tldsec.registry.transfers import (
    approve_transfer,
    cancel_transfer,
    query_transfer,
    reject_transfer,
    request_transfer,
)


@pytest.fixture
def world(registry_world: RegistryWorld) -> RegistryWorld:
    registry_world.add_registrar("alpha")
    registry_world.add_registrar("beta")
    registry_world.add_registrar("gamma")
    with registry_world.db.write() as s:
        create_domain(s, registry_world.tx("alpha"), DomainCreate("one.example", "auth-1"))
        create_host(s, registry_world.tx("alpha"), "ns1.one.example", [HostAddr("192.0.2.1", 4)])
    return registry_world


def test_request_and_approve_moves_domain_and_subordinate_hosts(world: RegistryWorld) -> None:
    with world.db.write() as s:
        before = domain_info(s, world.tx("alpha"), "one.example").expires_at
        view = request_transfer(s, world.tx("beta"), "one.example", "auth-1")
    assert (view.status, view.requested_by, view.action_by) == ("pending", "beta", "alpha")
    with world.db.write() as s:
        assert "pendingTransfer" in domain_info(s, world.tx("alpha"), "one.example").statuses
        with pytest.raises(StatusProhibits):
            update_domain(
                s, world.tx("alpha"), DomainUpdate("one.example", add_status=("clientHold",))
            )
    with world.db.write() as s:
        state = poll_request(s, world.tx("alpha"))
        assert state.count == 1 and state.first and state.first.transfer
        assert state.first.transfer["trStatus"] == "pending"
        poll_ack(s, world.tx("alpha"), str(state.first.id))
        approve_transfer(s, world.tx("alpha"), "one.example")
    with world.db.write() as s:
        after = domain_info(s, world.tx("beta"), "one.example")
        assert after.sponsor == "beta"
        assert after.expires_at == before.replace(year=before.year + 1)
        assert host_info(s, world.tx("beta"), "ns1.one.example").sponsor == "beta"
        assert poll_request(s, world.tx("beta")).count == 1


def test_refusals(world: RegistryWorld) -> None:
    with world.db.write() as s, pytest.raises(InvalidAuthInfo):
        request_transfer(s, world.tx("beta"), "one.example", "wrong")
    with world.db.write() as s, pytest.raises(NotEligible):
        request_transfer(s, world.tx("alpha"), "one.example", "auth-1")
    with world.db.write() as s, pytest.raises(NoTransferPending):
        approve_transfer(s, world.tx("alpha"), "one.example")
    with world.db.write() as s:
        request_transfer(s, world.tx("beta"), "one.example", "auth-1")
    with world.db.write() as s, pytest.raises(TransferPending):
        request_transfer(s, world.tx("gamma"), "one.example", "auth-1")
    with world.db.write() as s, pytest.raises(NotSponsor):
        approve_transfer(s, world.tx("beta"), "one.example")
    with world.db.write() as s, pytest.raises(NotSponsor):
        query_transfer(s, world.tx("gamma"), "one.example")
    with world.db.write() as s:
        assert cancel_transfer(s, world.tx("beta"), "one.example").status == "clientCancelled"
        request_transfer(s, world.tx("gamma"), "one.example", "auth-1")
        assert reject_transfer(s, world.tx("alpha"), "one.example").status == "clientRejected"
        assert domain_info(s, world.tx("alpha"), "one.example").sponsor == "alpha"


def test_the_server_approves_after_the_pending_period(world: RegistryWorld) -> None:
    with world.db.write() as s:
        request_transfer(s, world.tx("beta"), "one.example", "auth-1")
    world.clock.advance(timedelta(days=5, seconds=1))
    with world.db.write() as s:
        view = query_transfer(s, world.tx("beta"), "one.example")
        assert view.status == "serverApproved"
        assert domain_info(s, world.tx("beta"), "one.example").sponsor == "beta"


def test_transfer_prohibited_status(world: RegistryWorld) -> None:
    with world.db.write() as s:
        update_domain(
            s,
            world.tx("alpha"),
            DomainUpdate("one.example", add_status=("clientTransferProhibited",)),
        )
    with world.db.write() as s, pytest.raises(StatusProhibits):
        request_transfer(s, world.tx("beta"), "one.example", "auth-1")
