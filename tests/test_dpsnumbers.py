"""The DPS numbers module: the built-in policy says the same, and the module stays pure."""

from __future__ import annotations

import ast
import sys
from datetime import timedelta
from pathlib import Path

import tldsec.dpsnumbers
from tldsec.dpsnumbers import DPS
from tldsec.policy import load_policy


def test_the_builtin_dps_policy_says_what_the_dps_numbers_say() -> None:
    policy = load_policy()
    for role, numbers in ((policy.ksk, DPS.ksk), (policy.zsk, DPS.zsk)):
        assert (role.algorithm, role.bits) == (numbers.algorithm, numbers.bits)
        assert role.lifetime == numbers.lifetime
        assert role.prepublish == numbers.prepublish
        assert role.postpublish == numbers.postpublish
        assert role.emergency_postpublish == numbers.emergency_postpublish
    assert policy.signatures.validity_min == DPS.signature_validity_min
    assert policy.signatures.validity_max == DPS.signature_validity_max
    assert policy.denial.opt_out is DPS.nsec3_opt_out
    assert {
        k.upper(): getattr(policy.ttl, k)
        for k in ("soa", "dnskey", "ns", "a", "aaaa", "ds", "nsec3")
    } == DPS.ttl.by_type()
    assert policy.audit.online_retention == DPS.audit_online_retention
    assert policy.audit.archive_retention == DPS.audit_archive_retention
    assert policy.cycle.interval <= DPS.ds_removal_within


def test_the_dps_numbers_are_the_ones_the_dps_text_gives() -> None:
    # DPS 6.1, 6.4, 6.5, 6.7, 3.5.2, 4.4.3 (copied from the DPS, not from the module)
    assert (DPS.ksk.algorithm, DPS.ksk.bits, DPS.zsk.bits) == (8, 2048, 1024)
    assert DPS.zsk.lifetime == timedelta(days=90) and DPS.ksk.lifetime == timedelta(days=365)
    assert DPS.zsk.emergency_postpublish == timedelta(days=2)
    assert DPS.ksk.emergency_postpublish == timedelta(days=7)
    assert (DPS.signature_validity_min, DPS.signature_validity_max) == (
        timedelta(days=6),
        timedelta(days=8),
    )
    assert DPS.ttl.for_type("dnskey") == 43200 and DPS.ttl.for_type("NSEC3") == 3600
    assert DPS.ttl.for_type("RRSIG") is None and DPS.ttl.for_type("NSEC3PARAM") is None
    assert DPS.ds_removal_within == timedelta(hours=1)
    assert DPS.audit_archive_retention >= timedelta(days=3 * 365)
    assert DPS.algorithms == frozenset({8}) and DPS.key("ksk") is DPS.ksk


def test_dpsnumbers_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(tldsec.dpsnumbers.__file__).read_text("utf-8"))
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}
