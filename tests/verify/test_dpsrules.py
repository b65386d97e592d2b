"""Where the gate's DPS numbers come from: for the policy named ``dps``, the DPS itself
(``tldsec.dpsnumbers``) whatever the policy object says; a policy with another name may
deviate, and then its own values are checked, never the key store's or the signer's."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.verify.conftest import Case
from tests.verify.dps_faults import zsk_of_2048_bits
from tldsec.dpsnumbers import DPS
from tldsec.policy import Policy, load_policy
from tldsec.verify.dpsrules import DpsRules, span
from tldsec.verify.report import Status


def _lab(policy: Policy) -> Policy:
    return replace(policy, name="lab", zsk=replace(policy.zsk, bits=2048))


def test_the_dps_policy_gives_the_dps_numbers() -> None:
    rules = DpsRules.from_policy(load_policy())
    assert (rules.ksk.algorithm, rules.ksk.bits, rules.ksk.flags) == (8, DPS.ksk.bits, 257)
    assert (rules.zsk.algorithm, rules.zsk.bits, rules.zsk.flags) == (8, DPS.zsk.bits, 256)
    assert rules.validity_min == DPS.signature_validity_min.total_seconds() == 6 * 86400
    assert rules.validity_max == DPS.signature_validity_max.total_seconds() == 8 * 86400
    assert rules.skew == 3600  # the policy's inception offset
    assert (rules.ttl.dnskey, rules.ttl.nsec3, rules.ttl.soa) == (43200, 3600, 86400)
    assert (rules.denial.nsec3_iterations, rules.denial.nsec3_salt) == (0, b"")  # RFC 9276
    assert rules.cite("6.1") == "DPS 6.1"


def test_a_policy_named_dps_cannot_loosen_the_gate() -> None:
    policy = load_policy()
    loose = replace(
        policy,
        zsk=replace(policy.zsk, bits=2048),
        signatures=replace(policy.signatures, validity_max=timedelta(days=30)),
        ttl=replace(policy.ttl, dnskey=3600),
    )
    assert DpsRules.from_policy(loose) == DpsRules.from_policy(policy)


def test_another_policy_may_deviate_and_is_named(case: Case) -> None:
    lab = _lab(case.keys.policy)
    rules = DpsRules.from_policy(lab)
    assert rules.zsk.bits == 2048 and rules.cite("6.1") == "policy 'lab' (DPS 6.1)"
    # The zone with the DPS's 1024-bit ZSK breaks the lab policy, and says whose rule.
    report = case.verify(policy=lab)
    dnskey = report.check("dnskey")
    assert dnskey.status is Status.FAILED
    assert "policy 'lab' (DPS 6.1) requires a 2048-bit ZSK" in dnskey.findings[0].reason
    # A 2048-bit ZSK is what the lab policy asks for.
    zsk_of_2048_bits(case)
    assert case.verify(policy=lab).passed


def test_durations_are_spelt_out() -> None:
    assert [span(s) for s in (0, 45, 3600, 9000, 6 * 86400, 8 * 86400 - 3600)] == [
        "0 s",
        "45 s",
        "1 h",
        "2 h 30 min",
        "6 d",
        "7 d 23 h",
    ]
