"""Check "ttl": every RRset's TTL is the one the policy gives its type (DPS 6.7).

SOA 86400, DNSKEY 43200, NS/A/AAAA 86400 (glue included), DS 86400, NSEC3 3600, as the
loaded policy says; RRSIGs inherit the TTL of what they cover (the reader reports an
RRSIG whose TTL differs, and "signatures" an Original TTL that differs). Types the
policy does not name are not checked. At the apex, the SOA's negative-caching TTL,
min(SOA TTL, MINIMUM), must be the NSEC3 TTL (RFC 9077 3, RFC 5155 3): otherwise
resolvers cache a denial for longer or shorter than the NSEC3 records proving it.
"""

from __future__ import annotations

from collections.abc import Iterator

from tldsec.dnscore import names
from tldsec.dnscore.types import RRType, type_text
from tldsec.dnscore.zone import Zone, soa_minimum
from tldsec.policy import TtlPolicy
from tldsec.verify.report import Finding

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


def apex_ttls(zone: Zone, ttl: TtlPolicy) -> list[Finding]:
    """The SOA's negative-caching TTL against the NSEC3 TTL (RFC 9077 3); ``zone`` holds
    the apex (a whole zone, or the apex of a zone checked in parts)."""
    soa = zone.get(zone.origin, RRType.SOA)
    if soa is None or len(soa.rdatas) != 1 or len(soa.rdatas[0]) < 20:
        return []  # no single SOA: the zone-file and content checks say so
    minimum = soa_minimum(soa.rdatas[0])
    negative = min(soa.ttl, minimum)
    if negative == ttl.nsec3:
        return []
    return [
        Finding(
            names.to_text(zone.origin),
            "SOA",
            f"TTL {soa.ttl} and MINIMUM {minimum}: denials are cached for {negative} s, but "
            f"the policy (DPS 6.7) gives NSEC3 {ttl.nsec3}; RFC 9077 3 wants the two equal "
            "(the SOA MINIMUM is the NSEC3 TTL)",
        )
    ]
