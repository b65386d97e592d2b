"""Check "ttl": every RRset's TTL is the one the policy gives its type (DPS 6.7).

SOA 86400, DNSKEY 43200, NS/A/AAAA 86400 (glue included), DS 86400, NSEC3 3600, as the
loaded policy says; RRSIGs inherit the TTL of what they cover (the reader reports an
RRSIG whose TTL differs, and "signatures" an Original TTL that differs). Types the
policy does not name are not checked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from tldsec.dnscore import names
from tldsec.dnscore.types import RRType, type_text
from tldsec.dnscore.zone import Zone
from tldsec.policy import TtlPolicy
from tldsec.verify.report import CheckResult, Finding

NAME = "ttl"


def policy_ttls(ttl: TtlPolicy) -> dict[int, int]:
    """Type number -> the TTL DPS 6.7 gives it."""
    return {
        int(RRType.SOA): ttl.soa,
        int(RRType.DNSKEY): ttl.dnskey,
        int(RRType.NS): ttl.ns,
        int(RRType.A): ttl.a,
        int(RRType.AAAA): ttl.aaaa,
        int(RRType.DS): ttl.ds,
        int(RRType.NSEC3): ttl.nsec3,
    }


def check_ttls(zone: Zone, ttl: TtlPolicy) -> CheckResult:
    t0 = time.perf_counter()
    findings = list(wrong_ttls(zone, policy_ttls(ttl)))
    return CheckResult.from_findings(NAME, findings, time.perf_counter() - t0)


def wrong_ttls(zone: Zone, wanted: dict[int, int]) -> Iterator[Finding]:
    for node in zone.nodes.values():
        for rrset in node:
            want = wanted.get(rrset.rtype)
            if want is not None and rrset.ttl != want:
                yield Finding(
                    names.to_text(rrset.owner),
                    type_text(rrset.rtype),
                    f"TTL {rrset.ttl}; the policy (DPS 6.7) gives {type_text(rrset.rtype)} {want}",
                )
