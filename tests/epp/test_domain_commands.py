"""Domain commands with secDNS over EPP: one success and one failure per documented error.

Every response is checked against the reference RFC schemas; every failure leaves the
registry exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fixtures.epp import RunningServer, assert_valid
from tldsec.epp.client import EppClient
from tldsec.policy import DsPolicy
from tldsec.registry.context import RegistryRules
from tldsec.registry.ds_rules import DsData
from tldsec.registry.hosts import create_host
from tldsec.registry.models import Domain, DsRecord, HistoryEntry, ZoneChange
from tldsec.registry.reserved import reserved_names

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DS_A = DsData.of(12345, 13, 2, "2BB183AF5F22588179A53B0A98631FAD1A292118A9E5B7EB8B5E1C4C0C0F0E01")
DS_B = DsData.of(23456, 8, 2, "D4B7D520E7BB5F0F67674A0CCEB1E3E0614B93C4F9E99B8383F6A1E4469DA50A")


def frame(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def state(server: RunningServer) -> tuple[object, ...]:
    with server.world.db.read() as s:
        return tuple(
            tuple(tuple(r) for r in s.execute(select(*m.__table__.c)).all())
            for m in (Domain, DsRecord, HistoryEntry, ZoneChange)
        )


@pytest.fixture
def alpha(epp: RunningServer) -> Iterator[EppClient]:
    with epp.world.db.write() as s:
        for name in ("ns1.hoster.net", "ns2.hoster.net"):
            create_host(s, epp.world.tx("alpha"), name)
    client = epp.logged_in("alpha")
    yield client
    client.close()


def test_create_with_ds_then_info(epp: RunningServer, alpha: EppClient) -> None:
    created = alpha.request(frame("domain_create_with_ds.xml"))
    assert created.code == 1000, created.message
    assert_valid(created)
    assert created.text("epp:response/epp:resData/domain:creData/domain:name") == "one.example"
    info = alpha.request(frame("domain_info_plain.xml"))
    assert_valid(info)
    assert [e.text for e in info.findall(".//domain:hostObj")] == [
        "ns1.hoster.net",
        "ns2.hoster.net",
    ]
    assert info.text(".//secDNS:infData/secDNS:dsData/secDNS:digest") == DS_A.digest
    assert info.text(".//domain:clID") == "alpha"


def test_check(epp: RunningServer, alpha: EppClient) -> None:
    alpha.request(frame("domain_create_with_ds.xml"))
    response = alpha.request(frame("domain_check_plain.xml"))
    assert_valid(response)
    names = response.findall(".//domain:cd/domain:name")
    assert [(n.text, n.get("avail")) for n in names] == [
        ("one.example", "0"),
        ("free.example", "1"),
        ("not-ours.net", "0"),
    ]


@pytest.mark.parametrize(
    ("fixture", "code", "reason"),
    [
        ("domain_create_digest_31_bytes.xml", 2005, "not 31 bytes (62 hex digits)"),
        ("domain_create_rfc5910_dsdata.xml", 2005, "not 10 bytes (20 hex digits)"),
        ("domain_create_maxsiglife.xml", 2102, "maxSigLife"),
        ("domain_create_keydata.xml", 2306, "DS Data Interface"),
    ],
)
def test_create_refusals_change_nothing(
    epp: RunningServer, alpha: EppClient, fixture: str, code: int, reason: str
) -> None:
    before = state(epp)
    response = alpha.request(frame(fixture))
    assert response.code == code and reason in response.message, response.message
    assert_valid(response)
    assert state(epp) == before


def test_rfc5910_example_values_name_every_violation(epp: RunningServer, alpha: EppClient) -> None:
    response = alpha.request(frame("domain_create_rfc5910_dsdata.xml"))
    reasons = [e.text or "" for e in response.findall(".//epp:extValue/epp:reason")]
    assert any("algorithm 3 (DSA) is assigned but not allowed" in r for r in reasons)
    assert any("digest type 1" in r for r in reasons)
    assert any("20 bytes (40 hex digits)" in r for r in reasons)


def test_rfc5910_example_length_alone_is_refused_by_a_lenient_policy(
    epp: RunningServer, alpha: EppClient
) -> None:
    lenient = DsPolicy(frozenset({1, 2}), frozenset({3, 13}), 8)
    epp.dispatcher.rules = RegistryRules(origin="example.", ds=lenient)
    assert alpha.request(frame("domain_create_with_ds.xml")).code == 1000
    response = alpha.request(frame("domain_update_ds_rfc5910_rem_add.xml"))
    assert response.code == 2005
    assert "not 10 bytes (20 hex digits)" in response.message
    assert "no such DS to remove" in response.message


@pytest.mark.parametrize(
    ("fixture", "code", "reason"),
    [
        ("domain_update_ds_urgent.xml", 2102, "urgent"),
        ("domain_update_ds_rem_all_false.xml", 2306, "only with the value true"),
        ("domain_update_ds_nine.xml", 2308, "would have 10 DS records"),
    ],
)
def test_update_refusals_change_nothing(
    epp: RunningServer, alpha: EppClient, fixture: str, code: int, reason: str
) -> None:
    assert alpha.request(frame("domain_create_with_ds.xml")).code == 1000
    before = state(epp)
    response = alpha.request(frame(fixture))
    assert response.code == code and reason in response.message, response.message
    assert_valid(response)
    assert state(epp) == before


def test_another_registrars_domain(epp: RunningServer, alpha: EppClient) -> None:
    assert alpha.request(frame("domain_create_with_ds.xml")).code == 1000
    before = state(epp)
    with epp.logged_in("beta") as beta:
        for fixture in ("domain_update_ds_add.xml", "domain_update_ds_rem_all.xml"):
            response = beta.request(frame(fixture))
            assert response.code == 2201, response.message
            assert "sponsored by another registrar" in response.message
        delete = beta.command(
            '<delete><domain:delete xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">'
            "<domain:name>one.example</domain:name></domain:delete></delete>"
        )
        assert delete.code == 2201
        info = beta.request(frame("domain_info_plain.xml"))
        assert info.code == 1000 and info.text(".//domain:clID") == "alpha"
    assert state(epp) == before


def test_exists_and_does_not_exist(epp: RunningServer, alpha: EppClient) -> None:
    assert alpha.request(frame("domain_create_with_ds.xml")).code == 1000
    assert alpha.request(frame("domain_create_with_ds.xml")).code == 2302
    missing_host = alpha.domain_create("two.example", ns=("ns9.nowhere.net",))
    assert missing_host.code == 2303 and "ns9.nowhere.net" in missing_host.message
    assert alpha.domain_info("nothing.example").code == 2303
    outside = alpha.domain_create("one.other")
    assert outside.code == 2306


def test_renew_and_delete(epp: RunningServer, alpha: EppClient) -> None:
    assert alpha.request(frame("domain_create_with_ds.xml")).code == 1000
    renew = alpha.command(
        '<renew><domain:renew xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">'
        "<domain:name>one.example</domain:name><domain:curExpDate>2025-03-01"
        '</domain:curExpDate><domain:period unit="y">2</domain:period></domain:renew></renew>'
    )
    assert renew.code == 1000, renew.message
    assert_valid(renew)
    assert renew.text(".//domain:exDate").startswith("2027-03-01")
    wrong = alpha.command(
        '<renew><domain:renew xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">'
        "<domain:name>one.example</domain:name><domain:curExpDate>2025-03-01"
        "</domain:curExpDate></domain:renew></renew>"
    )
    assert wrong.code == 2306
    delete = alpha.command(
        '<delete><domain:delete xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">'
        "<domain:name>one.example</domain:name></domain:delete></delete>"
    )
    assert delete.code == 1000
    assert alpha.domain_info("one.example").code == 2303


def test_secdns_not_announced_at_login(epp: RunningServer) -> None:
    with epp.world.db.write() as s:
        create_host(s, epp.world.tx("alpha"), "ns1.hoster.net")
        create_host(s, epp.world.tx("alpha"), "ns2.hoster.net")
    with epp.client() as client:
        assert client.login("alpha", "secret-pw", extensions=()).code == 1000
        response = client.request(frame("domain_create_with_ds.xml"))
        assert response.code == 2103 and "did not announce" in response.message
        assert client.domain_create("plain.example").code == 1000
        info = client.domain_info("plain.example")
        assert info.find(".//secDNS:infData") is None


# Reserved names (ICANN Registry Agreement Specification 5; issue 13, attack 5).


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        (
            "domain_create_reserved.xml",
            "domain 'nic.example' is reserved and cannot be registered: the apex name "
            "servers a.nic.example., b.nic.example. lie below it",
        ),
        (
            "domain_create_reserved_www.xml",
            "domain 'www.example' is reserved and cannot be registered: reserved by the "
            "registry policy (ICANN Registry Agreement Specification 5)",
        ),
    ],
)
def test_create_of_a_reserved_name_is_refused(
    epp: RunningServer, alpha: EppClient, fixture: str, reason: str
) -> None:
    epp.dispatcher.rules = RegistryRules(
        origin="example.",
        ds=epp.world.rules.ds,
        reserved_names=reserved_names("example.", apex_ns=("a.nic.example.", "b.nic.example.")),
    )
    before = state(epp)
    response = alpha.request(frame(fixture))
    assert response.code == 2306 and response.message == reason, response.message
    assert_valid(response)
    assert state(epp) == before


def test_an_operator_reserved_name_is_refused_and_checked_unavailable(
    epp: RunningServer, alpha: EppClient
) -> None:
    epp.dispatcher.rules = RegistryRules(
        origin="example.",
        ds=epp.world.rules.ds,
        reserved_names=reserved_names("example.", labels=(), names=("free", "nic.example.")),
    )
    response = alpha.request(frame("domain_check_reserved.xml"))
    assert_valid(response)
    answers = [
        (n.text, n.get("avail"), n.getnext().text if n.getnext() is not None else None)
        for n in response.findall(".//domain:cd/domain:name")
    ]
    assert answers == [
        ("nic.example", "0", "Reserved"),
        ("whois.example", "1", None),  # labels=(): the policy's list is not in force here
        ("free.example", "0", "Reserved"),
    ]
    created = alpha.request(frame("domain_create_reserved.xml"))
    assert created.code == 2306 and "reserved by the registry operator" in created.message
