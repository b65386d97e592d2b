"""Two zones in one registry for the tests of tests/zone (decision 57): zone rows,
example. and shop. with delegations across them, a full build of either."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.fixtures.registry import START, RegistryWorld
from tldsec.policy import load_policy
from tldsec.registry.context import RegistryRules, Tx
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.hosts import HostAddr, create_host
from tldsec.registry.models import Zone
from tldsec.settings import ApexSettings
from tldsec.zone.incremental import build_zone_file
from tldsec.zone.output import BuildResult
from tldsec.zone.serial import allocate_serial


def add_zones(world: RegistryWorld, *origins: str) -> dict[str, int]:
    """Zone rows for ``origins``; their ids by origin."""
    with world.db.write() as s:
        rows = [Zone(origin=o, added_at=START) for o in origins]
        s.add_all(rows)
        s.flush()
        return {r.origin: r.id for r in rows}


APEX = ApexSettings(
    ns=("ns.registry-ops.net.",),
    glue=(),
    soa_mname="ns.registry-ops.net.",
    soa_rname="hostmaster.registry-ops.net.",
)
TTL = load_policy().ttl


def two_zones(world: RegistryWorld) -> dict[str, RegistryRules]:
    """example. and shop. with a delegation each; each names a name server of its own
    zone and one of the other's (a host may serve domains in several zones)."""
    ids = add_zones(world, "example.", "shop.")
    rules = {o: replace(world.rules, origin=o, zone_id=i) for o, i in ids.items()}
    world.add_registrar("alpha")

    def tx(origin: str) -> Tx:
        return replace(world.tx("alpha"), rules=rules[origin])

    with world.db.write() as s:
        create_domain(s, tx("example."), DomainCreate("a.example", "a-1"))
        create_domain(s, tx("shop."), DomainCreate("b.shop", "a-1"))
        create_host(s, tx("example."), "ns1.a.example", [HostAddr("192.0.2.1", 4)])
        create_host(s, tx("shop."), "ns1.b.shop", [HostAddr("192.0.2.2", 4)])
        both = ("ns1.a.example", "ns1.b.shop")
        create_domain(s, tx("example."), DomainCreate("d.example", "a-1", ns=both))
        create_domain(s, tx("shop."), DomainCreate("e.shop", "a-1", ns=both))
    return rules


def build(world: RegistryWorld, rules: RegistryRules, path: Path) -> BuildResult:
    """A full build of ``rules``' zone to ``path`` with the next serial and the ledger."""
    assert rules.zone_id is not None
    with world.db.write() as s:
        serial = allocate_serial(s, rules.zone_id, world.clock.now())
    with world.db.snapshot() as s:
        return build_zone_file(
            s,
            path,
            zone_id=rules.zone_id,
            origin=rules.origin,
            apex=APEX,
            ttl=TTL,
            rules=rules,
            serial=serial,
            built_at=world.clock.now(),
            ledger=True,
        )


def delegation_records(path: Path) -> list[str]:
    """Owner, type and first RDATA field of each NS, DS, A and AAAA line of ``path``."""
    return [
        " ".join(line.split()[i] for i in (0, 3, 4))
        for line in path.read_text().splitlines()
        if not line.startswith(";") and line.split()[3] in ("NS", "DS", "A", "AAAA")
    ]
