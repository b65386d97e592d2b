"""The quarantine in the zone build itself: the incremental and the full build withhold
the same objects and keep the same records (both from the previous file), and a full
build without a trustworthy previous file leaves a bad object out."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select

from tests.fixtures.registry import RegistryWorld
from tests.zone.test_incremental import APEX, RULES, TTL
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.hosts import HostAddr, create_host
from tldsec.registry.models import Domain, DsRecord, Host, HostAddress, ZoneChange
from tldsec.zone.buildinfo import BuildInfo, info_path
from tldsec.zone.incremental import build_zone_file
from tldsec.zone.output import BuildResult

DS = DsData.of(1000, 13, 2, "CD" * 32)


def build(world: RegistryWorld, path: Path, serial: int, *, incremental: bool) -> BuildResult:
    with world.db.snapshot() as s:
        return build_zone_file(
            s,
            path,
            zone_id=1,
            origin="example.",
            apex=APEX,
            ttl=TTL,
            rules=RULES,
            serial=serial,
            built_at=world.clock.now(),
            incremental=incremental,
        )


def seed(world: RegistryWorld) -> None:
    world.add_registrar("alpha")
    tx = world.tx("alpha")
    with world.db.write() as s:
        create_host(s, tx, "ns.ext.net")
        for name in ("a.example", "b.example"):
            create_domain(s, tx, DomainCreate(name, "a-1", ns=("ns.ext.net",), ds=(DS,)))
        create_host(s, tx, "ns1.b.example", [HostAddr("192.0.2.7", 4)])
        update_domain(s, tx, DomainUpdate("b.example", add_ns=("ns1.b.example",)))


def break_rows(world: RegistryWorld) -> None:
    """A DS row with algorithm 300 on a.example, glue not-an-ip on ns1.b.example, each
    with the zone_change row a careless tool would still write."""
    with world.db.write() as s:
        a = s.scalar(select(Domain.id).where(Domain.name == "a.example"))
        host = s.scalar(select(Host.id).where(Host.name == "ns1.b.example"))
        assert a is not None and host is not None
        s.add(DsRecord(domain_id=a, key_tag=7, algorithm=300, digest_type=2, digest="AB" * 32))
        s.add(HostAddress(host_id=host, address="not-an-ip", version=4))
        for name in ("a.example", "ns1.b.example"):
            s.add(ZoneChange(at=world.clock.now(), name=name, reason="sql"))


def test_incremental_and_full_builds_keep_the_same_records(
    registry_world: RegistryWorld, tmp_path: Path
) -> None:
    seed(registry_world)
    first = tmp_path / "inc.zone"
    build(registry_world, first, 1, incremental=False)
    before = first.read_text()
    full = tmp_path / "full.zone"
    shutil.copy(first, full)
    shutil.copy(info_path(first), info_path(full))
    break_rows(registry_world)
    inc = build(registry_world, first, 2, incremental=True)
    whole = build(registry_world, full, 2, incremental=False)
    assert inc.incremental and not whole.incremental
    assert first.read_bytes() == full.read_bytes()
    text = first.read_text()
    assert "a.example. 86400 IN DS 1000 13 2" in text and " 300 " not in text
    assert "ns1.b.example. 86400 IN A 192.0.2.7" in text and "not-an-ip" not in text
    assert text.split("\n", 1)[1].replace(" 2 1800", " 1 1800") == before.split("\n", 1)[1]
    for result in (inc, whole):
        assert [(q.kind, q.name, q.rules, q.kept) for q in result.quarantined] == [
            ("domain", "a.example", ("ds-algorithm-unassigned",), True),
            ("host", "ns1.b.example", ("glue-address",), True),
        ]
        assert result.newly_quarantined == result.quarantined and not result.released
    info = BuildInfo.load(first)
    assert info is not None and len(info.quarantine) == 2


def test_a_full_build_without_a_trusted_previous_file_leaves_them_out(
    registry_world: RegistryWorld, tmp_path: Path
) -> None:
    seed(registry_world)
    path = tmp_path / "z.zone"
    build(registry_world, path, 1, incremental=False)
    path.write_text(path.read_text() + "; edited\n")  # no longer what its record says
    break_rows(registry_world)
    result = build(registry_world, path, 2, incremental=True)
    assert not result.incremental and "does not match its build record" in result.reason
    text = path.read_text()
    assert "\na.example. " not in text and "\nns1.b.example. " not in text  # no owner lines
    assert "b.example. 86400 IN NS ns.ext.net." in text
    assert [q.kept for q in result.quarantined] == [False, False]
