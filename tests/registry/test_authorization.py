"""The authorization rule (DPS 3.2, 3.5.3): only the sponsor changes a domain; a refused
change leaves the database exactly as it was."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.fixtures.registry import RegistryWorld, sqlite_world
from tldsec.errors import NotSponsor
from tldsec.registry.context import Tx
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import DomainCreate, create_domain, delete_domain, renew_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.hosts import create_host
from tldsec.registry.models import (
    Domain,
    DomainNs,
    DomainStatus,
    DsRecord,
    HistoryEntry,
    ZoneChange,
)
from tldsec.registry.transfers import approve_transfer, request_transfer

DS = DsData.of(4242, 13, 2, "42" * 32)
Op = Callable[[Session, Tx, str], object]

OPERATIONS: dict[str, Op] = {
    "add-ds": lambda s, tx, n: update_domain(s, tx, DomainUpdate(n, ds_add=(DS,))),
    "remove-all-ds": lambda s, tx, n: update_domain(s, tx, DomainUpdate(n, ds_rem_all=True)),
    "add-ns": lambda s, tx, n: update_domain(s, tx, DomainUpdate(n, add_ns=("ns.hoster.net",))),
    "hold": lambda s, tx, n: update_domain(s, tx, DomainUpdate(n, add_status=("clientHold",))),
    "delete": lambda s, tx, n: delete_domain(s, tx, n),
    "renew": lambda s, tx, n: renew_domain(
        s, tx, n, s.scalar(select(Domain.expires_at).where(Domain.name == n)).date(), 1
    ),
    "approve-transfer": lambda s, tx, n: approve_transfer(s, tx, n),
}


def snapshot(world: RegistryWorld) -> tuple[object, ...]:
    with world.db.read() as s:
        return tuple(
            tuple(tuple(r) for r in s.execute(select(*model.__table__.c)).all())
            for model in (Domain, DomainNs, DomainStatus, DsRecord, HistoryEntry, ZoneChange)
        )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    op=st.sampled_from(sorted(OPERATIONS)),
    sponsor=st.sampled_from(["alpha", "beta"]),
    actor=st.sampled_from(["alpha", "beta", "gamma"]),
)
def test_only_the_sponsor_may_change_a_domain(op: str, sponsor: str, actor: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = sqlite_world(Path(tmp))
        for r in ("alpha", "beta", "gamma"):
            world.add_registrar(r)
        with world.db.write() as s:
            create_host(s, world.tx(sponsor), "ns.hoster.net")
            create_domain(s, world.tx(sponsor), DomainCreate("d.example", "auth-1"))
            if op == "approve-transfer":
                request_transfer(s, world.tx("gamma"), "d.example", "auth-1")
        before = snapshot(world)
        try:
            with world.db.write() as s:
                OPERATIONS[op](s, world.tx(actor), "d.example")
        except NotSponsor:
            assert actor != sponsor
            assert snapshot(world) == before
        else:
            assert actor == sponsor
        finally:
            world.db.dispose()
