"""The DS-only hot path (``update_ds``) does what ``update_domain`` does, on both databases.

Two domains get the same sequence of DS changes, one through each service; after every
step both have the same DS, the same history detail and zone-change rows, the same
audit event, or the same refusal with nothing written.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.fixtures.registry import RegistryWorld
from tldsec.errors import NotSponsor, ObjectNotFound, RegistryError, StatusProhibits
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import DomainCreate, create_domain, domain_info
from tldsec.registry.ds_rules import DsData
from tldsec.registry.ds_update import DsUpdate, update_ds
from tldsec.registry.models import Domain, DomainStatus, HistoryEntry, ZoneChange
from tldsec.registry.transfers import request_transfer

POOL = (
    DsData.of(11111, 13, 2, "11" * 32),
    DsData.of(22222, 8, 2, "22" * 32),
    DsData.of(33333, 13, 4, "33" * 48),
    DsData.of(44444, 13, 2, "44" * 32),
    DsData.of(55555, 7, 2, "55" * 32),  # algorithm 7 may be refused by policy
    DsData.of(66666, 13, 2, "66" * 31),  # a 31-byte SHA-256 digest: always refused
)
Step = tuple[bool, tuple[DsData, ...], tuple[DsData, ...]]


def make_world(world: RegistryWorld) -> None:
    world.add_registrar("alpha")
    world.add_registrar("beta")
    for name in ("orm.example", "core.example"):
        with world.db.write() as s:
            create_domain(s, world.tx("alpha"), DomainCreate(name=name, auth_info="auth-1"))


def via_orm(world: RegistryWorld, step: Step, client: str = "alpha") -> None:
    remove_all, remove, add = step
    with world.db.write() as s:
        update_domain(
            s,
            world.tx(client),
            DomainUpdate(name="orm.example", ds_rem_all=remove_all, ds_rem=remove, ds_add=add),
        )


def via_core(world: RegistryWorld, step: Step, client: str = "alpha", name: str = "") -> bool:
    remove_all, remove, add = step
    with world.db.write() as s:
        return update_ds(
            s,
            world.tx(client),
            DsUpdate(name=name or "core.example", remove_all=remove_all, remove=remove, add=add),
        )


def state(world: RegistryWorld, name: str) -> tuple[object, ...]:
    """What a DS update leaves behind for ``name``, without the name itself."""
    with world.db.read() as s:
        ds = domain_info(s, world.tx("alpha"), name).ds
        history = [
            (h.action, h.client_id, json.loads(h.detail))
            for h in s.scalars(
                select(HistoryEntry)
                .where(HistoryEntry.object_name == name)
                .order_by(HistoryEntry.id)
            )
        ]
        changes = [c.reason for c in s.scalars(select(ZoneChange).where(ZoneChange.name == name))]
        updater = s.scalar(select(Domain.updater_id).where(Domain.name == name))
    events = [
        (e[0], e[1], {k: v for k, v in e[2].items() if k != "domain"})
        for e in world.events
        if e[2].get("domain") == name
    ]
    return ds, history, changes, events, updater


def outcome(run: Callable[[], object]) -> str:
    try:
        run()
    except RegistryError as exc:
        return f"{type(exc).__name__}: {exc}".replace("core.example", "X").replace(
            "orm.example", "X"
        )
    return "ok"


steps = st.lists(
    st.tuples(
        st.booleans(),
        st.lists(st.sampled_from(POOL), max_size=3).map(tuple),
        st.lists(st.sampled_from(POOL), max_size=4).map(tuple),
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sequence=steps)
def test_the_hot_path_matches_update_domain(
    registry_world_any: RegistryWorld, sequence: list[Step]
) -> None:
    world = registry_world_any
    if not world.actors:
        make_world(world)
    for step in sequence:
        orm = outcome(lambda step=step: via_orm(world, step))  # type: ignore[misc]
        core = outcome(lambda step=step: via_core(world, step))  # type: ignore[misc]
        assert core == orm, step
        assert state(world, "core.example") == state(world, "orm.example")


def test_only_the_sponsor_may_change_ds_and_a_refusal_writes_nothing(
    registry_world_any: RegistryWorld,
) -> None:
    world = registry_world_any
    make_world(world)
    before = state(world, "core.example")
    with pytest.raises(NotSponsor):
        via_core(world, (False, (), (POOL[0],)), client="beta")
    with pytest.raises(ObjectNotFound):
        via_core(world, (False, (), (POOL[0],)), name="nowhere.example")
    assert state(world, "core.example") == before
    assert via_core(world, (False, (), (POOL[0],)), client="registry")  # the operator may


def test_statuses_that_forbid_updates_are_honoured(registry_world: RegistryWorld) -> None:
    world = registry_world
    make_world(world)
    with world.db.write() as s:
        domain_id = s.scalar(select(Domain.id).where(Domain.name == "core.example"))
        s.add(DomainStatus(domain_id=domain_id, status="serverUpdateProhibited"))
    before = state(world, "core.example")
    with pytest.raises(StatusProhibits, match="serverUpdateProhibited"):
        via_core(world, (False, (), (POOL[0],)))
    assert state(world, "core.example") == before


def test_a_pending_transfer_is_left_to_update_domain(registry_world: RegistryWorld) -> None:
    world = registry_world
    make_world(world)
    with world.db.write() as s:
        request_transfer(s, world.tx("beta"), "core.example", "auth-1", 1)
    assert via_core(world, (False, (), (POOL[0],))) is False
    with pytest.raises(StatusProhibits, match="pending transfer"), world.db.write() as s:
        update_domain(s, world.tx("alpha"), DomainUpdate("core.example", ds_add=(POOL[0],)))
