"""The full DS lifecycle over EPP (DPS 3.3, 3.5), on SQLite and PostgreSQL, and what the
zone builder emits after each step: create with DS, add, remove one, remove all."""

from __future__ import annotations

from tests.fixtures.epp import RunningServer, assert_valid
from tldsec.epp.client import Response
from tldsec.policy import load_policy
from tldsec.registry.ds_rules import DsData
from tldsec.registry.hosts import create_host
from tldsec.settings import ApexSettings
from tldsec.zone.builder import build_from_registry

DS1 = DsData.of(11111, 13, 2, "11" * 32)
DS2 = DsData.of(22222, 8, 2, "22" * 32)
DS3 = DsData.of(33333, 13, 4, "33" * 48)
APEX = ApexSettings(
    ns=("a.nic.example.",),
    glue=(("a.nic.example.", "192.0.2.53"),),
    soa_mname="a.nic.example.",
    soa_rname="hostmaster.example.",
)


def info_ds(response: Response) -> list[DsData]:
    assert response.code == 1000, response.message
    assert_valid(response)
    return sorted(
        DsData.of(
            int(d.findtext("secDNS:keyTag", namespaces=NS) or 0),
            int(d.findtext("secDNS:alg", namespaces=NS) or 0),
            int(d.findtext("secDNS:digestType", namespaces=NS) or 0),
            d.findtext("secDNS:digest", namespaces=NS) or "",
        )
        for d in response.findall(".//secDNS:infData/secDNS:dsData")
    )


NS = {"secDNS": "urn:ietf:params:xml:ns:secDNS-1.1"}


def zone_lines(epp: RunningServer, owner: str) -> list[str]:
    zone, _ = build_from_registry(
        epp.world.db,
        zone_id=1,
        origin="example.",
        apex=APEX,
        ttl=load_policy().ttl,
        rules=epp.world.rules,
        clock=epp.world.clock,
    )
    return [r.line() for r in zone.records if r.owner == owner]


def test_ds_lifecycle(epp_any: RunningServer) -> None:
    epp = epp_any
    with epp.world.db.write() as s:
        create_host(s, epp.world.tx("alpha"), "ns1.hoster.net")
    with epp.logged_in("alpha") as client:
        created = client.domain_create("signed.example", ns=("ns1.hoster.net",), ds=(DS1,))
        assert created.code == 1000, created.message
        assert info_ds(client.domain_info("signed.example")) == [DS1]
        assert zone_lines(epp, "signed.example.") == [
            "signed.example. 86400 IN NS ns1.hoster.net.",
            f"signed.example. 86400 IN DS {DS1}",
        ]

        assert client.domain_update_ds("signed.example", add=(DS2, DS3)).code == 1000
        assert info_ds(client.domain_info("signed.example")) == sorted([DS1, DS2, DS3])
        assert zone_lines(epp, "signed.example.")[1:] == [
            f"signed.example. 86400 IN DS {d}" for d in (DS1, DS2, DS3)
        ]

        assert client.domain_update_ds("signed.example", remove=(DS2,)).code == 1000
        assert info_ds(client.domain_info("signed.example")) == sorted([DS1, DS3])
        assert zone_lines(epp, "signed.example.")[1:] == [
            f"signed.example. 86400 IN DS {d}" for d in (DS1, DS3)
        ]

        # Remove and add in one command: removes first (RFC 5910 3.2.5).
        swap = client.domain_update_ds("signed.example", remove=(DS1,), add=(DS1, DS2))
        assert swap.code == 1000, swap.message
        assert info_ds(client.domain_info("signed.example")) == sorted([DS1, DS2, DS3])

        # DPS 3.5: removing every DS removes the chain of trust at the next build.
        assert client.domain_update_ds("signed.example", remove_all=True).code == 1000
        assert info_ds(client.domain_info("signed.example")) == []
        assert zone_lines(epp, "signed.example.") == ["signed.example. 86400 IN NS ns1.hoster.net."]
        assert client.logout().code == 1500
