"""The zone builder: registry -> unsigned zone, exact output, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.zone
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures.registry import RegistryWorld
from tldsec.cli.main import main
from tldsec.dnscore import names
from tldsec.dnscore.zonefile import read_zone
from tldsec.policy import load_policy
from tldsec.registry.context import RegistryRules
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import DomainCreate, create_domain, delete_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.hosts import HostAddr, create_host
from tldsec.registry.models import Zone
from tldsec.registry.reserved import ReservedNames, reserved_names
from tldsec.settings import ApexSettings, settings_from_dict
from tldsec.zone.builder import BuiltZone, build_from_registry, canonical_key, write_zone

TTL = load_policy().ttl
APEX = ApexSettings(
    ns=("a.nic.example.", "ns.registry-ops.net."),
    glue=(("a.nic.example.", "192.0.2.53"), ("a.nic.example.", "2001:db8::53")),
    soa_mname="a.nic.example.",
    soa_rname="hostmaster.example.",
)
DS = DsData.of(31589, 13, 2, "3490A6806D47F17A34C29E2CE80E8A999FFBE4BE" + "0" * 24)


RULES = RegistryRules(
    origin="example.",
    ds=load_policy().ds,
    reserved_names=reserved_names("example.", apex_ns=APEX.ns),
)


def build(world: RegistryWorld) -> BuiltZone:
    zone, _ = build_from_registry(
        world.db, zone_id=1, origin="example.", apex=APEX, ttl=TTL, rules=RULES, clock=world.clock
    )
    return zone


def lines(zone: BuiltZone) -> list[str]:
    return [r.line() for r in zone.records]


def populate(world: RegistryWorld) -> None:
    world.add_registrar("alpha")
    with world.db.write() as s:
        tx = world.tx("alpha")
        create_host(s, tx, "ns1.hoster.net")
        create_host(s, tx, "ns2.hoster.net")
        create_domain(
            s, tx, DomainCreate("b-out.example", "a-1", ns=("ns1.hoster.net", "ns2.hoster.net"))
        )
        create_domain(s, tx, DomainCreate("c-in.example", "a-1"))
        create_host(
            s, tx, "ns1.c-in.example", [HostAddr("192.0.2.1", 4), HostAddr("2001:db8::1", 6)]
        )
        create_host(s, tx, "ns2.c-in.example", [HostAddr("192.0.2.2", 4)])
        update_domain(
            s, tx, DomainUpdate("c-in.example", add_ns=("ns1.c-in.example", "ns2.c-in.example"))
        )
        create_domain(s, tx, DomainCreate("d-ds.example", "a-1", ns=("ns1.hoster.net",), ds=(DS,)))
        create_domain(
            s, tx, DomainCreate("e-held.example", "a-1", ns=("ns1.hoster.net",), ds=(DS,))
        )
        update_domain(s, tx, DomainUpdate("e-held.example", add_status=("clientHold",)))
        create_domain(s, tx, DomainCreate("f-nons.example", "a-1", ds=(DS,)))


def test_exact_zone_from_a_small_registry(registry_world_any: RegistryWorld) -> None:
    populate(registry_world_any)
    zone = build(registry_world_any)
    soa = f"a.nic.example. hostmaster.example. {zone.serial} 1800 900 1209600 3600"
    assert lines(zone) == [
        f"example. 86400 IN SOA {soa}",
        "example. 86400 IN NS a.nic.example.",
        "example. 86400 IN NS ns.registry-ops.net.",
        "b-out.example. 86400 IN NS ns1.hoster.net.",
        "b-out.example. 86400 IN NS ns2.hoster.net.",
        "c-in.example. 86400 IN NS ns1.c-in.example.",
        "c-in.example. 86400 IN NS ns2.c-in.example.",
        "ns1.c-in.example. 86400 IN A 192.0.2.1",
        "ns1.c-in.example. 86400 IN AAAA 2001:db8::1",
        "ns2.c-in.example. 86400 IN A 192.0.2.2",
        "d-ds.example. 86400 IN NS ns1.hoster.net.",
        f"d-ds.example. 86400 IN DS {DS}",
        "a.nic.example. 86400 IN A 192.0.2.53",
        "a.nic.example. 86400 IN AAAA 2001:db8::53",
    ]
    assert (zone.delegations, zone.signed_delegations, zone.glue_hosts) == (3, 1, 2)
    assert zone.orphan_hosts == ()


def test_serial_strictly_increases_and_output_is_deterministic(
    registry_world: RegistryWorld,
) -> None:
    populate(registry_world)
    first, second = build(registry_world), build(registry_world)
    assert second.serial == first.serial + 1  # the clock did not move
    assert lines(first)[1:] == lines(second)[1:]
    registry_world.clock.advance(timedelta(days=1))
    assert build(registry_world).serial >= first.serial + 86400


def test_orphan_glue_of_a_deleted_domain_stays(registry_world: RegistryWorld) -> None:
    """DPS 6.6: after c-in is deleted, its name server (used by g) stays in the zone."""
    populate(registry_world)
    with registry_world.db.write() as s:
        tx = registry_world.tx("alpha")
        create_domain(s, tx, DomainCreate("g.example", "a-1", ns=("ns1.c-in.example",)))
        delete_domain(s, tx, "c-in.example")
    zone = build(registry_world)
    text = lines(zone)
    assert not any(line.startswith("c-in.example.") for line in text)
    assert "ns1.c-in.example. 86400 IN A 192.0.2.1" in text
    assert not any(line.startswith("ns2.c-in.example.") for line in text)
    assert zone.orphan_hosts == ("ns1.c-in.example",)


def test_removing_the_hold_or_all_ds(registry_world: RegistryWorld) -> None:
    populate(registry_world)
    with registry_world.db.write() as s:
        tx = registry_world.tx("alpha")
        update_domain(s, tx, DomainUpdate("e-held.example", rem_status=("clientHold",)))
        update_domain(s, tx, DomainUpdate("d-ds.example", ds_rem_all=True))
    text = lines(build(registry_world))
    assert f"e-held.example. 86400 IN DS {DS}" in text
    assert not any(line.startswith("d-ds.example. 86400 IN DS") for line in text)


def test_the_file_reads_back_with_our_parser_and_dnspython(
    registry_world: RegistryWorld, tmp_path: Path
) -> None:
    populate(registry_world)
    zone = build(registry_world)
    path = tmp_path / "example.zone"
    write_zone(zone, path)
    parsed = read_zone(path, "example.")
    assert parsed is not None
    reference = dns.zone.from_file(str(path), origin="example.", relativize=False)
    assert sum(len(rds) for _, rds in reference.iterate_rdatasets()) == len(zone.records)


def test_a_domain_holding_an_apex_name_server_is_withheld(
    registry_world: RegistryWorld,
) -> None:
    """Attack 5 at the builder: nic.example in the database (registered before it was
    reserved, or written by a bug) is left out, and the rest of the zone is built."""
    registry_world.rules = replace(registry_world.rules, reserved_names=ReservedNames())
    registry_world.add_registrar("alpha")
    with registry_world.db.write() as s:
        create_host(s, registry_world.tx("alpha"), "ns1.hoster.net")
        for name in ("nic.example", "ok.example"):
            create_domain(
                s, registry_world.tx("alpha"), DomainCreate(name, "a-1", ns=("ns1.hoster.net",))
            )
    zone = build(registry_world)
    assert "ok.example. 86400 IN NS ns1.hoster.net." in lines(zone)
    assert not any(r.owner == "nic.example." for r in zone.records)
    assert zone.delegations == 1
    [withheld] = zone.quarantined
    assert (withheld.kind, withheld.name, withheld.rules, withheld.kept) == (
        "domain",
        "nic.example",
        ("reserved",),
        False,
    )
    assert "apex name server a.nic.example. lies below it" in withheld.message


def test_cli_zone_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "tldsec.toml").write_text('[zone]\norigin = "example"\n')
    settings = settings_from_dict({"zone": {"origin": "example"}}, home, source="test")
    assert settings.apex is not None
    db = RegistryDatabase.from_url(settings.registry_db_url)
    db.upgrade()  # made without an origin: the registry has no zone yet
    db.dispose()
    out = tmp_path / "out" / "example.zone"
    assert main(["zone", "build", "--home", str(home), "-o", str(out)]) != 0
    assert "the registry has no zone example." in capsys.readouterr().err
    db = RegistryDatabase.from_url(settings.registry_db_url)
    with db.write() as s:  # what 'tldsec zone add' makes: the zone's row
        s.add(Zone(origin="example.", added_at=datetime(2026, 1, 1, tzinfo=UTC)))
    db.dispose()
    assert main(["zone", "build", "--home", str(home), "-o", str(out)]) == 0
    assert "0 delegations" in capsys.readouterr().out
    text = out.read_text()
    assert "example. 86400 IN NS a.nic.example." in text
    assert "b.nic.example. 86400 IN A 198.51.100.53" in text


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@given(st.lists(st.lists(_label, min_size=1, max_size=4), min_size=2, max_size=30))
def test_owner_order_is_the_canonical_order_of_dnscore(label_lists: list[list[str]]) -> None:
    """Our fast key sorts registry names exactly as RFC 4034 6.1 (dnscore.names) does."""
    owners = [".".join([*labels, "example"]) + "." for labels in label_lists]
    reference = sorted(owners, key=lambda o: names.canonical_key(names.to_wire(o)))
    assert sorted(owners, key=canonical_key) == reference
