"""The policy against the DPS's numbers and against itself (issue 13, attack 4): every
value that breaks the DPS is found, with its DPS section; every contradiction too."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

import pytest

from tldsec.errors import PolicyViolation
from tldsec.policy import load_policy, policy_from_dict
from tldsec.policy_check import check, dps_findings, inconsistencies, refusals


def dps_dict(name: str = "dps") -> dict[str, Any]:
    text = resources.files("tldsec.policies").joinpath("dps.toml").read_text("utf-8")
    data = tomllib.loads(text)
    data["name"] = name
    return data


def with_values(changes: dict[str, Any], name: str = "dps") -> dict[str, Any]:
    data = dps_dict(name)
    for dotted, value in changes.items():
        table, key = dotted.split(".")
        data[table][key] = value
    return data


def test_the_builtin_policy_breaks_nothing() -> None:
    assert check(load_policy()) == []


# One case per DPS number: (the field changed, its value, the section the finding cites).
DPS_CASES = [
    ("ksk.bits", 1024, "DPS 6.1"),  # attack 4
    ("ksk.bits", 4096, "DPS 6.1"),
    ("zsk.bits", 2048, "DPS 6.1"),
    ("ksk.algorithm", 10, "DPS 6.1, 6.3"),
    ("zsk.algorithm", 10, "DPS 6.1, 6.3"),
    ("zsk.lifetime_days", 3650, "DPS 6.4"),  # attack 4
    ("ksk.lifetime_days", 366, "DPS 6.4"),
    ("zsk.prepublish_days", 6, "DPS 6.4"),
    ("zsk.postpublish_days", 1, "DPS 6.4"),
    ("zsk.emergency_postpublish_days", 1, "DPS 6.4"),
    ("ksk.prepublish_days", 29, "DPS 6.4"),
    ("ksk.postpublish_days", 29, "DPS 6.4"),
    ("ksk.emergency_postpublish_days", 6, "DPS 6.4"),
    ("signatures.validity_max_days", 9, "DPS 6.5"),
    ("ttl.soa", 90000, "DPS 6.7"),
    ("ttl.dnskey", 86400, "DPS 6.7"),
    ("ttl.ns", 3600, "DPS 6.7"),
    ("ttl.a", 3600, "DPS 6.7"),
    ("ttl.aaaa", 3600, "DPS 6.7"),
    ("ttl.ds", 3600, "DPS 6.7"),
    ("ttl.nsec3", 7200, "DPS 6.7"),
    ("cycle.interval_seconds", 86400, "DPS 3.5.2"),  # attack 4: a one-day cycle
    ("audit.online_retention_days", 1, "DPS 4.4.3"),  # attack 4
    ("audit.archive_retention_days", 1094, "DPS 4.4.3"),
]


@pytest.mark.parametrize(("field", "value", "section"), DPS_CASES)
def test_each_dps_number_is_checked(field: str, value: int, section: str) -> None:
    policy = policy_from_dict(with_values({field: value}, name="lab"))  # loads: not "dps"
    found = [f for f in dps_findings(policy) if f.field == field]
    assert [f.source for f in found] == [section]
    assert found[0].value == str(value) or found[0].value.startswith(f"{value} ")
    with pytest.raises(PolicyViolation) as err:  # the same file named "dps" is refused
        policy_from_dict(with_values({field: value}))
    assert f"{field} = " in str(err.value) and f"({section})" in str(err.value)


def test_the_attack_4_policy_is_refused_with_every_value_listed() -> None:
    data = with_values(
        {
            "ksk.bits": 1024,
            "zsk.lifetime_days": 3650,
            "signatures.validity_min_days": 28,
            "signatures.validity_max_days": 30,
            "cycle.interval_seconds": 86400,
            "audit.online_retention_days": 1,
            "audit.archive_retention_days": 1,
            "ttl.soa": 600,
        }
    )
    with pytest.raises(PolicyViolation) as err:
        policy_from_dict(data, source="attack4.toml")
    message = str(err.value)
    for expected in (
        "ksk.bits = 1024: the DPS says 2048 (DPS 6.1)",
        "zsk.lifetime_days = 3650: the DPS rolls the ZSK at least every 90 days (DPS 6.4)",
        "signatures.validity_min_days = 28: the DPS signs for between 6 and 8 days (DPS 6.5)",
        "signatures.validity_max_days = 30: the DPS signs for between 6 and 8 days (DPS 6.5)",
        "cycle.interval_seconds = 86400 (+ debounce_seconds 30): a DS change must reach the "
        "zone within 3600 s (DPS 3.5.2)",
        "audit.online_retention_days = 1: the DPS keeps logs online for 365 days (DPS 4.4.3)",
        "audit.archive_retention_days = 1: the DPS archives logs for at least 1095 days",
        "ttl.soa = 600: must be at least ttl.nsec3 (3600, the SOA MINIMUM)",
        "ttl.soa = 600: the DPS says 86400 (DPS 6.7)",
    ):
        assert expected in message
    assert message.startswith("policy attack4.toml is refused, 9 value(s) break a rule")
    assert len(err.value.findings) == 9


# Contradictions are refused whatever the policy's name.
INCONSISTENT = [
    ({"ttl.soa": 600}, "ttl.soa", "RFC 9077 3"),  # attack 4: soa TTL below nsec3 TTL
    ({"ttl.nsec3": 90000}, "ttl.soa", "RFC 9077 3"),
    ({"signatures.validity_max_days": 5}, "signatures.validity_max_days", "DPS 6.5"),
    ({"signatures.refresh_days": 6}, "signatures.refresh_days", "DPS 6.5"),
    # validity vs the cycle: a signature must outlive the next cycle plus the margin
    ({"cycle.safety_margin_hours": 24 * 6}, "signatures.validity_min_days", "DPS 3.5.2, 6.5"),
    ({"signatures.refresh_days": 2}, "signatures.refresh_days", "DPS 3.5.2, 6.5"),
    ({"zsk.prepublish_days": 90}, "zsk.prepublish_days", "RFC 7583 3.2"),
    ({"zsk.prepublish_days": 0}, "zsk.prepublish_days", "RFC 7583 3.2"),
    ({"audit.archive_retention_days": 300}, "audit.archive_retention_days", "DPS 4.4.3"),
]


@pytest.mark.parametrize(("changes", "field", "source"), INCONSISTENT)
def test_each_inconsistency_is_refused_whatever_the_name(
    changes: dict[str, Any], field: str, source: str
) -> None:
    policy = policy_from_dict(with_values(changes, name="lab"), enforce=False)
    assert (field, source) in [(f.field, f.source) for f in inconsistencies(policy)]
    assert refusals(policy)  # refused even though the name is not "dps"
    with pytest.raises(PolicyViolation, match=f"{field} = "):
        policy_from_dict(with_values(changes, name="lab"))


def test_a_differently_named_policy_may_deviate_and_the_deviations_are_kept() -> None:
    policy = policy_from_dict(with_values({"ksk.bits": 4096, "zsk.bits": 2048}, name="lab"))
    assert refusals(policy) == []
    assert [f.field for f in dps_findings(policy)] == ["ksk.bits", "zsk.bits"]
