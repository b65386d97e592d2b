"""The rules an object must meet to be published: the functions EPP applies, applied to
rows as the database holds them (registry/publishable.py), and the reserved names
(registry/reserved.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tldsec.errors import InvalidValue, PolicyRefused
from tldsec.policy import load_policy
from tldsec.registry.context import RegistryRules
from tldsec.registry.ds_rules import DsData
from tldsec.registry.names import check_domain_name, check_host_name
from tldsec.registry.publishable import Publishable
from tldsec.registry.reserved import POLICY_REASON, reserved_names

RULES = RegistryRules(
    origin="example.",
    ds=load_policy().ds,
    reserved_names=reserved_names(
        "example.", names=("registry",), apex_ns=("a.nic.example.", "ns.ops.example.")
    ),
)
NS = ["ns1.hoster.net", "ns2.hoster.net"]
GOOD_DS = DsData(12345, 13, 2, "AB" * 32)


def faults(name: str, ns: list[str] = NS, ds: tuple[DsData, ...] = ()) -> list[str]:
    return [f.rule for f in Publishable(RULES).delegation(name, ns, ds)]


def test_a_valid_delegation_passes() -> None:
    assert faults("dom.example", ds=(GOOD_DS,)) == []
    assert faults("xn--bcher-kva.example") == []


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("bad name.example", "domain-name"),
        ("dom7.other", "domain-name"),
        ("a.b.example", "domain-name"),
        ("Dom.example", "domain-name"),
        ("dom.example.", "domain-name"),
        ("dom\n.example", "domain-name"),  # "$" let a final newline through a label
        ("ab--c.example", "domain-name"),
        ("nic.example", "reserved"),
        ("www.example", "reserved"),
        ("registry.example", "reserved"),
        ("ops.example", "reserved"),
    ],
)
def test_a_bad_or_reserved_name_is_a_fault(name: str, rule: str) -> None:
    assert faults(name) == [rule]


def test_name_servers_and_ds_are_judged_by_the_epp_rules() -> None:
    assert faults("dom.example", ns=["ns 1.hoster.net"]) == ["ns-name"]
    assert faults("dom.example", ns=["NS1.hoster.net"]) == ["ns-name"]
    assert faults("dom.example", ns=[f"ns{i}.hoster.net" for i in range(14)]) == ["ns-count"]
    assert faults("dom.example", ds=(DsData(1, 13, 2, "NOT-HEX"),)) == ["ds-digest-not-hex"]
    assert faults("dom.example", ds=(DsData(1, 300, 2, "AB" * 32),)) == ["ds-algorithm-unassigned"]
    nine = tuple(DsData(i, 13, 2, "AB" * 32) for i in range(9))
    assert faults("dom.example", ds=nine) == ["ds-too-many"]


def test_glue_is_judged_by_the_epp_address_rule() -> None:
    check = Publishable(RULES)
    assert check.glue("ns1.dom.example", [(4, "192.0.2.1"), (6, "2001:db8::1")]) == []
    assert [f.rule for f in check.glue("ns1.dom.example", [(4, "not-an-ip")])] == ["glue-address"]
    assert [f.rule for f in check.glue("ns1.dom.example", [(4, "127.0.0.1")])] == ["glue-address"]
    assert [f.rule for f in check.glue("ns1.dom.other", [(4, "192.0.2.1")])] == ["host-name"]
    assert [f.rule for f in check.glue("ns 1.dom.example", [(4, "192.0.2.1")])] == ["host-name"]


def test_reserved_names_say_why() -> None:
    reserved = RULES.reserved
    assert reserved.why("whois.example") == POLICY_REASON
    assert reserved.why("registry.example") == (
        "reserved by the registry operator ([zone] reserved_names)"
    )
    assert reserved.why("nic.example") == "the apex name server a.nic.example. lies below it"
    assert reserved.why("free.example") is None
    with pytest.raises(PolicyRefused, match="only names directly below"):
        reserved_names("example.", names=("a.b",))
    with pytest.raises(InvalidValue):
        reserved_names("example.", names=("bad name",))


def test_the_fast_path_of_the_name_check_agrees_with_the_full_one() -> None:
    assert check_domain_name("dom.example", "example.") == "dom.example"
    assert check_domain_name(" DOM.example. ", "example.") == "dom.example"
    with pytest.raises(InvalidValue):
        check_host_name("ns\n.hoster.net", "example.")


def test_operator_reserved_names_come_from_the_zone_table(tmp_path: Path) -> None:
    from tldsec.errors import ConfigError
    from tldsec.registry.context import rules_from_settings
    from tldsec.settings import settings_from_dict

    def rules(names: list[str]) -> RegistryRules:
        data = {"zone": {"origin": "example", "reserved_names": names}}
        return rules_from_settings(settings_from_dict(data, tmp_path, source="t.toml"))

    reserved = rules(["test", "demo.example."]).reserved
    assert {"test.example", "demo.example", "nic.example", "www.example"} <= set(reserved.names)
    assert reserved.why("nic.example") == (
        "the apex name servers a.nic.example., b.nic.example. lie below it"
    )
    with pytest.raises(ConfigError, match=r"\[zone\] reserved_names: .*only names directly"):
        rules(["a.b"])


def test_the_builder_applies_the_epp_glue_and_a_label_rules() -> None:
    """Issue 18: what EPP now refuses is also never published (one function for both)."""
    publish = Publishable(RULES)
    assert publish.glue("ns1.dom.example", [(4, "192.0.2.1"), (6, "2001:db8::1")]) == []
    bad = publish.glue("ns1.dom.example", [(4, "255.255.255.255"), (6, "::ffff:127.0.0.1")])
    assert [f.rule for f in bad] == ["glue-address", "glue-address"]
    strict = Publishable(RegistryRules(origin="example.", ds=RULES.ds, documentation_glue=False))
    assert [f.rule for f in strict.glue("ns1.dom.example", [(4, "192.0.2.1")])] == ["glue-address"]
    assert faults("xn--a.example") == ["domain-name"]
    assert faults("dom.example", ns=["ns1.xn--a.net"]) == ["ns-name"]
