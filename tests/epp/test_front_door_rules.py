"""Issue 18, the EPP front door's registry rules, over the real server and TLS: glue in
special-purpose address blocks, invalid A-labels, DS removal during a pending transfer
(DPS 3.5.1) and the DS messages and codes per the IANA registries."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.fixtures.epp import RunningServer, assert_valid
from tldsec.registry.ds_rules import DsData

D = 'xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"'
DS1 = DsData.of(12345, 13, 2, "A" * 64)
DS2 = DsData.of(23456, 13, 2, "B" * 64)
DS3 = DsData.of(34567, 13, 2, "C" * 64)


@pytest.mark.parametrize(
    "address",
    [
        "255.255.255.255",  # limited broadcast
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:192.0.2.1",
        "0.1.2.3",  # "this network"
        "10.1.2.3",
        "100.64.0.1",
        "127.0.0.1",
        "169.254.1.1",
        "172.16.0.1",
        "192.0.0.8",
        "192.168.1.1",
        "192.31.196.1",
        "198.18.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "0::",
        "64:ff9b::c000:201",
        "100::1",
        "2001::1",  # Teredo
        "2001:2::1",  # benchmarking
        "2002:c000:201::1",  # 6to4
        "fc00::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
    ],
)
def test_special_purpose_glue_is_refused(epp: RunningServer, address: str) -> None:
    with epp.logged_in("alpha") as alpha:
        assert alpha.domain_create("one.example").code == 1000
        refused = alpha.host_create("ns1.one.example", (address,))
        assert refused.code == 2306, refused.message
        assert "special-purpose" in refused.message
        assert_valid(refused)
        # Nothing was created, so nothing can be published.
        assert alpha.host_create("ns1.one.example", ("192.0.2.1",)).code == 1000


def test_documentation_glue_follows_the_setting(epp: RunningServer) -> None:
    with epp.logged_in("alpha") as alpha:
        assert alpha.domain_create("one.example").code == 1000
        assert alpha.host_create("ns1.one.example", ("192.0.2.1", "3fff::1")).code == 1000
        epp.dispatcher.rules = replace(epp.dispatcher.rules, documentation_glue=False)
        refused = alpha.host_create("ns2.one.example", ("198.51.100.7",))
        assert refused.code == 2306 and "documentation" in refused.message
        assert alpha.host_create("ns2.one.example", ("2001:db8::1",)).code == 2306
        assert alpha.host_create("ns2.one.example", ("8.8.8.8", "2a00:1450::1")).code == 1000
        # An address the rules now refuse can still be removed from a host.
        removed = alpha.command(
            '<update><host:update xmlns:host="urn:ietf:params:xml:ns:host-1.0">'
            "<host:name>ns1.one.example</host:name>"
            '<host:rem><host:addr ip="v4">192.0.2.1</host:addr></host:rem>'
            "</host:update></update>"
        )
        assert removed.code == 1000, removed.message


@pytest.mark.parametrize("name", ["xn--a.example", "xn--zz.example", "xn--ls8h.example"])
def test_invalid_a_labels_are_refused(epp: RunningServer, name: str) -> None:
    with epp.logged_in("alpha") as alpha:
        refused = alpha.domain_create(name)
        assert refused.code == 2005, refused.message
        assert "A-label" in refused.message
        check = alpha.command(
            f"<check><domain:check {D}><domain:name>{name}</domain:name></domain:check></check>"
        )
        assert check.code == 1000
        assert check.find(".//domain:name").get("avail") == "0"
        host = alpha.host_create(f"ns1.{name}")
        assert host.code == 2005, host.message


def test_a_valid_a_label_registers(epp: RunningServer) -> None:
    with epp.logged_in("alpha") as alpha:
        assert alpha.domain_create("xn--bcher-kva.example").code == 1000


def _transfer_pending(epp: RunningServer) -> None:
    with epp.logged_in("beta") as beta:
        requested = beta.command(
            f'<transfer op="request"><domain:transfer {D}><domain:name>one.example'
            "</domain:name><domain:authInfo><domain:pw>auth-pw-1</domain:pw>"
            "</domain:authInfo></domain:transfer></transfer>"
        )
        assert requested.code == 1001, requested.message


def test_ds_removal_during_a_pending_transfer(epp_any: RunningServer) -> None:
    epp = epp_any
    with epp.logged_in("alpha") as alpha:
        assert alpha.domain_create("one.example", ds=(DS1, DS2, DS3)).code == 1000
        _transfer_pending(epp)
        one = alpha.domain_update_ds("one.example", remove=(DS1,))
        assert one.code == 1000, one.message
        several = alpha.domain_update_ds("one.example", remove=(DS2, DS3))
        assert several.code == 1000, several.message
        assert alpha.domain_update_ds("one.example", add=(DS1,)).code == 2304
        assert alpha.domain_update_ds("one.example", add=(DS1,)).code == 2304
        assert alpha.domain_update_ds("one.example", remove=(DS1,), add=(DS2,)).code == 2304
        info = alpha.domain_info("one.example")
        assert info.findall(".//secDNS:dsData") == []
        assert "pendingTransfer" in [s.get("s") for s in info.findall(".//domain:status")]
        with epp.logged_in("beta") as beta:
            assert beta.domain_update_ds("one.example", remove_all=True).code == 2201


def test_ds_removal_of_all_during_a_pending_transfer(epp_any: RunningServer) -> None:
    epp = epp_any
    with epp.logged_in("alpha") as alpha:
        assert alpha.domain_create("one.example", ds=(DS1, DS2)).code == 1000
        _transfer_pending(epp)
        removed = alpha.domain_update_ds("one.example", remove_all=True)
        assert removed.code == 1000, removed.message
        assert alpha.domain_info("one.example").findall(".//secDNS:dsData") == []


@pytest.mark.parametrize(
    ("ds", "code", "words"),
    [
        # Assigned by IANA, refused by the policy: 2306, named as assigned.
        (DsData.of(1, 13, 3, "A" * 64), 2306, "digest type 3 (GOST R 34.11-94) is assigned"),
        (DsData.of(1, 13, 1, "A" * 40), 2306, "digest type 1 (SHA-1) is assigned"),
        (DsData.of(1, 253, 2, "A" * 64), 2306, "algorithm 253 (PRIVATEDNS) is assigned"),
        (DsData.of(1, 23, 2, "A" * 64), 2306, "algorithm 23 (ECC-GOST12) is assigned"),
        (DsData.of(1, 5, 2, "A" * 64), 2306, "algorithm 5 (RSASHA1) is assigned"),
        # Not assigned (unassigned or reserved): 2004, whichever field it is.
        (DsData.of(1, 13, 99, "A" * 64), 2004, "digest type 99 is not an assigned"),
        (DsData.of(1, 13, 0, "A" * 64), 2004, "digest type 0 is not an assigned"),
        (DsData.of(1, 99, 2, "A" * 64), 2004, "algorithm 99 is not an assigned"),
        (DsData.of(1, 255, 2, "A" * 64), 2004, "algorithm 255 is not an assigned"),
    ],
)
def test_ds_messages_follow_the_iana_registries(
    epp: RunningServer, ds: DsData, code: int, words: str
) -> None:
    with epp.logged_in("alpha") as alpha:
        refused = alpha.domain_create("one.example", ds=(ds,))
        assert refused.code == code, refused.message
        assert words in refused.message
        assert_valid(refused)
