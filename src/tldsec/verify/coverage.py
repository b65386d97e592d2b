"""Check "coverage": what must be signed is, by the right keys; what must not be, is not.

RFC 4035 2.2: every authoritative RRset is signed, by each algorithm of the apex DNSKEY
RRset; delegation NS RRsets and glue are not. DPS 6.5: zone data is signed by the
ZSKs, the DNSKEY RRset by the KSKs. When the signing configuration is known (the cycle
passes it), the duties are checked key by key: each zone-signing key over every
authoritative RRset, each DNSKEY-signing key over the DNSKEY RRset, no other key, and
the DNSKEY RRset holds exactly the published keys. Whether each signature is *valid*
is the "signatures" check; here only who signed what.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tldsec.dnscore import names
from tldsec.dnscore.types import RRType, type_text
from tldsec.dnscore.zone import RRset, Zone
from tldsec.verify.keys import KeySet, key_tag
from tldsec.verify.options import ExpectedSigners, KeyId
from tldsec.verify.report import Finding
from tldsec.verify.structure import Structure

__all__ = [
    "NAME",
    "ExpectedSigners",
    "Signers",
    "apex_coverage",
    "data_coverage",
    "signers_of",
]

NAME = "coverage"
DNSKEY = int(RRType.DNSKEY)
DS = int(RRType.DS)
NS = int(RRType.NS)
NSEC3 = int(RRType.NSEC3)


def signers_of(rrset: RRset) -> set[KeyId]:
    """(algorithm, key tag) of each RRSIG over ``rrset`` (RFC 4034 3.1)."""
    return {(sig[2], (sig[16] << 8) | sig[17]) for sig in rrset.sigs if len(sig) >= 18}


@dataclass(frozen=True, slots=True)
class Signers:
    """Who must and who may sign zone data, read from the apex (or the configuration)."""

    zsk: frozenset[KeyId]  # non-SEP zone keys of the DNSKEY RRset
    ksk: frozenset[KeyId]  # SEP zone keys of the DNSKEY RRset
    algorithms: frozenset[int]  # RFC 4035 2.2: each must sign every RRset
    active: frozenset[KeyId]  # must sign every authoritative RRset
    allowed: frozenset[KeyId]  # may sign zone data

    @classmethod
    def from_apex(cls, zone: Zone, expected: ExpectedSigners | None) -> Signers:
        """From the apex DNSKEY RRset; the active ZSKs are the configuration's zone
        signers, else the ZSKs that sign the SOA."""
        dnskey = zone.get(zone.origin, DNSKEY)
        keys = KeySet.from_rdatas(dnskey.rdatas if dnskey is not None else [])
        usable = [k for k in keys.keys if k.is_zone_key and not k.is_revoked]
        ksk = frozenset((k.algorithm, k.tag) for k in usable if k.is_sep)
        zsk = frozenset((k.algorithm, k.tag) for k in usable if not k.is_sep)
        if expected is not None:
            active, allowed = expected.zone, expected.zone
        else:
            soa = zone.get(zone.origin, RRType.SOA)
            active = frozenset(signers_of(soa) & zsk) if soa is not None else frozenset()
            allowed = zsk
        return cls(zsk, ksk, keys.algorithms, active, allowed)


def apex_coverage(zone: Zone, expected: ExpectedSigners | None) -> Iterator[Finding]:
    """The DNSKEY RRset: present, the published keys, signed by the KSK(s)."""
    origin = zone.origin
    apex = names.to_text(origin)
    dnskey = zone.get(origin, DNSKEY)
    if dnskey is None:
        yield Finding(apex, "DNSKEY", "the apex has no DNSKEY RRset")
        return
    signers = Signers.from_apex(zone, expected)
    if expected is not None:
        have = set(dnskey.rdatas)
        for rd in sorted(expected.published - have):
            yield Finding(apex, "DNSKEY", f"key {key_tag(rd)} should be published but is not")
        for rd in sorted(have - expected.published):
            yield Finding(apex, "DNSKEY", f"key {key_tag(rd)} is published but should not be")
    by = signers_of(dnskey)
    if not by & signers.ksk:
        yield Finding(apex, "DNSKEY", "the DNSKEY RRset is not signed by a KSK (SEP key)")
    if expected is not None:
        for _alg, tag in sorted(expected.dnskey - by):
            yield Finding(apex, "DNSKEY", f"the DNSKEY RRset lacks the RRSIG of KSK {tag}")
        for _alg, tag in sorted(by - expected.dnskey):
            yield Finding(apex, "DNSKEY", f"signed by key {tag}, which has no DNSKEY duty")


def data_coverage(zone: Zone, structure: Structure, signers: Signers) -> Iterator[Finding]:
    """Every RRset but the DNSKEY RRset: signed if it is the zone's data, else not."""
    origin = zone.origin
    zsk_ids, active, allowed, algorithms = (
        signers.zsk,
        signers.active,
        signers.allowed,
        signers.algorithms,
    )

    def zone_data(rrset: RRset) -> Iterator[Finding]:
        by = signers_of(rrset)
        if not by:
            yield _f(rrset, "not signed: an authoritative RRset needs an RRSIG (RFC 4035 2.2)")
            return
        if not by & zsk_ids:
            yield _f(rrset, "not signed by a ZSK (DPS 6.5)")
        missing = active - by
        if missing:
            tags = ", ".join(str(t) for _, t in sorted(missing))
            yield _f(rrset, f"lacks the RRSIG of active ZSK {tags}")
        extra = by - allowed
        if extra:
            tags = ", ".join(str(t) for _, t in sorted(extra))
            yield _f(rrset, f"signed by key {tags}, which has no zone-signing duty")
        if len(algorithms) > 1 or not algorithms <= {alg for alg, _ in by}:
            lacking = algorithms - {alg for alg, _ in by}
            if lacking:
                text = ", ".join(str(a) for a in sorted(lacking))
                yield _f(
                    rrset, f"not signed with algorithm {text} of the DNSKEY RRset (RFC 4035 2.2)"
                )

    nodes = zone.nodes
    for owner in structure.authoritative:
        for rrset in nodes[owner]:
            if (rrset.rtype == DNSKEY and owner == origin) or rrset.rtype == NSEC3:
                continue
            yield from zone_data(rrset)
    for owner in structure.nsec3_owners:
        for rrset in nodes[owner]:
            if rrset.rtype == NSEC3:
                yield from zone_data(rrset)
    for owner in structure.delegations:
        for rrset in nodes[owner]:
            if rrset.rtype == DS:
                yield from zone_data(rrset)
            elif rrset.sigs:
                what = "delegation NS" if rrset.rtype == NS else "glue at a delegation"
                yield _f(rrset, f"{what} is signed; the child is authoritative (RFC 4035 2.2)")
    for owner in structure.occluded:
        for rrset in nodes[owner]:
            if rrset.sigs:
                yield _f(rrset, "glue or occluded data below a delegation is signed (RFC 4035 2.2)")


def _f(rrset: RRset, reason: str) -> Finding:
    return Finding(names.to_text(rrset.owner), type_text(rrset.rtype), reason)
