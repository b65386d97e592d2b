"""A real ``tldsec serve`` for a home of two zones (decision 67): each zone's registry
change reaches that zone's store and the primary serves both; a zone whose change is held
(the collapse guard) is named in /health while the other zone publishes on."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.distribute.homes import Registry, make_home, tldsec
from tests.service.running import Serve, secondary_config
from tldsec.cycle import open_store
from tldsec.policy import load_policy
from tldsec.registry.context import RegistryRules, Tx
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import DomainCreate, create_domain, delete_domain
from tldsec.registry.ds_rules import DsData
from tldsec.settings import load_settings

SHOP_DOMAINS = 20
NS = ("ns1.hoster.net", "ns2.hoster.net")


def shop_tx(registry: Registry) -> Tx:
    """A transaction of the registrar in shop. (zone 2), as EPP routes one there."""
    rules = RegistryRules(origin="shop.", ds=load_policy().ds, zone_id=2)
    return replace(registry.tx(registry.registrar), rules=rules)


def two_zone_home(directory: Path) -> Path:
    """``example.`` with 20 delegations, ``shop.`` (added by ``tldsec zone add``) with
    20 of its own, every store under ``zones/NAME/dist``."""
    fast = "\n[verify]\nexternal = []\nsecond_sample = 50\n"  # FAST_CYCLE's, [cycle] below
    home = make_home(directory, extra=secondary_config() + fast)
    policy = home / "policy.toml"  # a change is published a second after it is made
    policy.write_text(policy.read_text().replace("debounce_seconds = 30", "debounce_seconds = 1"))
    toml = home / "tldsec.toml"
    text = toml.read_text()
    assert '[zone]\norigin = "example."\n' in text
    text = text.replace('[zone]\norigin = "example."\n', "[zones.example]\n\n[zones.shop]\n")
    text = text.replace("[distribute]\n", '[distribute]\nstore_dir = "zones/{zone}/dist"\n', 1)
    toml.write_text(text)
    tldsec("zone", "add", "shop.", "--home", str(home))
    registry = Registry(home)
    try:
        registry.seed(20)
        with registry.db.write() as s:
            for i in range(SHOP_DOMAINS):
                create_domain(s, shop_tx(registry), DomainCreate(f"s{i}.shop", "auth-1", ns=NS))
    finally:
        registry.close()
    return home


def served(home: Path, origin: str) -> str:
    """The zone file the store of ``origin`` publishes now."""
    settings = load_settings(home).for_zone(origin)
    store = open_store(settings)
    serial = store.current()
    assert serial is not None, f"{origin}: nothing published"
    return store.zone_path(serial).read_text()


def owners(text: str) -> set[str]:
    return {line.split()[0] for line in text.splitlines() if line and line[0] not in ";\t "}


def ds_tags(text: str, owner: str) -> set[int]:
    """The key tags of ``owner``'s DS records in a zone file."""
    found = set()
    for line in text.splitlines():
        fields = line.split()
        if fields[:1] == [owner] and "DS" in fields[1:4]:
            found.add(int(fields[fields.index("DS") + 1]))
    return found


def both_zones_served(serve: Serve) -> None:
    """Wait until /health gives a served serial for each zone."""
    serve.wait(
        lambda: all(z["serial"] is not None for z in zones_of(serve).values()),
        "both zones served",
        timeout=300,
    )


def zones_of(serve: Serve) -> dict[str, dict[str, object]]:
    zones = serve.health()[1]["zones"]
    assert isinstance(zones, dict)
    return zones


def test_two_zones_publish_apart_and_a_held_zone_does_not_stop_the_other(
    tmp_path: Path,
) -> None:
    home = two_zone_home(tmp_path / "home")
    serve = Serve.start(home, tmp_path / "serve.log", "--no-epp", serial=False)
    try:
        both_zones_served(serve)
        first = {origin: z["serial"] for origin, z in zones_of(serve).items()}
        shop_owners = owners(served(home, "shop."))
        assert "s3.shop." in shop_owners and "dom3.example." not in shop_owners
        assert "s3.shop." not in owners(served(home, "example."))
        registry = Registry(home)
        try:
            registry.attach()
            registry.add_ds("dom2.example", DsData.of(40001, 13, 2, "AB" * 32))
            with registry.db.write() as s:
                update_domain(
                    s,
                    shop_tx(registry),
                    DomainUpdate("s2.shop", ds_add=(DsData.of(40002, 13, 2, "CD" * 32),)),
                )
        finally:
            registry.close()
        serve.wait(
            lambda: all(z["serial"] != first[o] for o, z in zones_of(serve).items()),
            "both zones' new serials",
            timeout=300,
        )
        assert 40001 in ds_tags(served(home, "example."), "dom2.example.")
        assert 40002 in ds_tags(served(home, "shop."), "s2.shop.")

        # shop. loses most of its delegations: held by the collapse guard, a fault
        # named for shop.; example.'s next change is published all the same
        held_at = zones_of(serve)["shop."]["serial"]
        registry = Registry(home)
        try:
            registry.attach()
            with registry.db.write() as s:
                for i in range(4, SHOP_DOMAINS):
                    delete_domain(s, shop_tx(registry), f"s{i}.shop")
        finally:
            registry.close()
        serve.wait(
            lambda: any(f.startswith("shop.: the last cycle held") for f in serve.faults()),
            "shop.'s held cycle in /health",
            timeout=300,
        )
        before = zones_of(serve)["example."]["serial"]
        registry = Registry(home)
        try:
            registry.attach()
            registry.add_ds("dom4.example", DsData.of(40004, 13, 2, "EF" * 32))
        finally:
            registry.close()
        serve.wait(
            lambda: zones_of(serve)["example."]["serial"] != before,
            "example. publishing while shop. is held",
            timeout=300,
        )
        assert 40004 in ds_tags(served(home, "example."), "dom4.example.")
        assert zones_of(serve)["shop."]["serial"] == held_at
        assert not any(f.startswith("example.:") for f in serve.faults())
        status, health = serve.health()
        assert status == 503 and health["zone"] is None
    finally:
        serve.stop()
