"""What the signer must do with each name: authoritative, delegation, glue, or empty
non-terminal (RFC 4035 2.2, RFC 5155 7.1), after the content checks a zone must pass.

``analyse`` refuses a zone that breaks a rule (no SOA, CNAME beside data, DNSSEC records
in the input, DS away from a delegation ...) with a ``ZoneContentError`` naming the
owner, and returns a ``ZoneStructure``: which RRsets get signed and which names get an
NSEC3 with which types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from tldsec.dnscore import names
from tldsec.dnscore.types import DNSSEC_TYPES, RRType, type_text
from tldsec.dnscore.zone import RRset, Zone
from tldsec.errors import ZoneContentError


class NameKind(Enum):
    APEX = "apex"
    AUTHORITATIVE = "authoritative"
    DELEGATION = "delegation"  # a zone cut below the apex
    OCCLUDED = "occluded"  # at or below a cut, not the cut's NS/DS: glue and the like


# At a cut only NS and DS belong to the parent; A/AAAA there are glue for an
# in-bailiwick name server named like the child (RFC 1034 4.2.1).
_AT_CUT_ALLOWED = frozenset({RRType.NS, RRType.DS, RRType.A, RRType.AAAA})


# Types that need the full checks even as a name's only RRset (refused in the input,
# or allowed only beside another type).
_CHECKED_ALONE = DNSSEC_TYPES | {RRType.SOA, RRType.DS, RRType.NS}


@dataclass(slots=True)
class ZoneStructure:
    """The signer's view of a checked zone."""

    to_sign: list[RRset] = field(default_factory=list)
    # Owner -> the types in its NSEC3 type bitmap, RRSIG included where the name has a
    # signed RRset (DNSKEY and NSEC3PARAM are the signer's to add at the apex). The sets
    # are shared: a TLD has millions of names but only a handful of distinct type sets.
    nsec3_types: dict[bytes, frozenset[int]] = field(default_factory=dict)
    delegations: int = 0
    occluded: int = 0
    empty_non_terminals: int = 0


def _where(owner: bytes, rtype: int | None = None) -> str:
    return names.to_text(owner) + (f" {type_text(rtype)}" if rtype is not None else "")


def analyse(zone: Zone) -> ZoneStructure:
    """Check the zone's content and classify every name."""
    origin = zone.origin
    apex = zone.nodes.get(origin)
    if not apex:
        raise ZoneContentError(f"no records at the origin {_where(origin)}")
    soa = zone.get(origin, RRType.SOA)
    if soa is None:
        raise ZoneContentError(f"no SOA record at the origin {_where(origin)}")
    if len(soa.rdatas) != 1:
        raise ZoneContentError(
            f"{len(soa.rdatas)} SOA records at {_where(origin)}; "
            "a zone has exactly one (RFC 1035 5.2)"
        )
    if zone.get(origin, RRType.NS) is None:
        raise ZoneContentError(f"no NS RRset at the origin {_where(origin)}")

    cuts = set()
    ns_type, ds_type = RRType.NS, RRType.DS
    for owner, node in zone.nodes.items():
        if len(node) == 1 and owner != origin:
            # The usual name: one RRset (a delegation's NS, an address record).
            rrset = node[0]
            rtype = rrset.rtype
            if rtype == ns_type and not rrset.sigs:
                cuts.add(owner)
                continue
            if rtype not in _CHECKED_ALONE and not rrset.sigs:
                continue
        types = {r.rtype for r in node}
        for rrset in node:
            if rrset.rtype in DNSSEC_TYPES or rrset.sigs:
                what = "RRSIG" if rrset.sigs else type_text(rrset.rtype)
                raise ZoneContentError(
                    f"{_where(owner)}: {what} in the unsigned input; the signer makes "
                    "all DNSSEC records itself (give it the unsigned zone)"
                )
        if RRType.CNAME in types and len(types) > 1:
            raise ZoneContentError(f"{_where(owner)}: CNAME beside other data (RFC 1034 3.6.2)")
        if owner == origin:
            if RRType.CNAME in types:
                raise ZoneContentError(f"{_where(owner)}: CNAME at the zone apex")
            if RRType.DS in types:
                raise ZoneContentError(f"{_where(owner)}: DS at the apex belongs in the parent")
            continue
        if RRType.SOA in types:
            raise ZoneContentError(f"{_where(owner)}: SOA away from the origin")
        if RRType.NS in types:
            cuts.add(owner)
            extra = types - _AT_CUT_ALLOWED
            if extra:
                raise ZoneContentError(
                    f"{_where(owner, min(extra))}: only NS, DS and glue belong at a zone cut"
                )
        elif RRType.DS in types:
            raise ZoneContentError(
                f"{_where(owner, RRType.DS)}: DS without NS; "
                "a DS belongs at a delegation (RFC 4034 5)"
            )

    structure = ZoneStructure()
    shared: dict[frozenset[int], frozenset[int]] = {}

    def type_set(types: set[int]) -> frozenset[int]:
        key = frozenset(types)
        return shared.setdefault(key, key)

    nsec3_types = structure.nsec3_types
    to_sign = structure.to_sign
    delegation_types = type_set({RRType.NS})
    delegations = 0
    for owner, node in zone.nodes.items():
        if owner in cuts and names.parent(owner) == origin:
            # A delegation directly under the apex (nearly every name in a TLD): no cut
            # above it, so it is a delegation, not occluded.
            delegations += 1
            if len(node) == 1:
                nsec3_types[owner] = delegation_types
                continue
            types = {RRType.NS}
            for rrset in node:
                if rrset.rtype == ds_type:
                    types |= {RRType.DS, RRType.RRSIG}
                    to_sign.append(rrset)
            nsec3_types[owner] = type_set(types)
            continue
        kind = _classify(owner, origin, cuts)
        if kind is NameKind.OCCLUDED:
            structure.occluded += 1
            continue
        if kind is NameKind.DELEGATION:
            delegations += 1
            types = {RRType.NS}
            for rrset in node:
                if rrset.rtype == RRType.DS:
                    types |= {RRType.DS, RRType.RRSIG}
                    structure.to_sign.append(rrset)
            structure.nsec3_types[owner] = type_set(types)
            continue
        structure.to_sign.extend(node)
        structure.nsec3_types[owner] = type_set({r.rtype for r in node} | {RRType.RRSIG})

    structure.delegations = delegations

    # Empty non-terminals: ancestors of a non-occluded name that own no records.
    empty: frozenset[int] = frozenset()
    nodes = zone.nodes
    for owner in list(structure.nsec3_types):
        name = owner
        while name != origin:
            name = names.parent(name)
            if name in nodes or name in structure.nsec3_types:
                break
            structure.nsec3_types[name] = empty
            structure.empty_non_terminals += 1
    return structure


def _classify(owner: bytes, origin: bytes, cuts: set[bytes]) -> NameKind:
    if owner == origin:
        return NameKind.APEX
    name = names.parent(owner)
    while name != origin:
        if name in cuts:
            return NameKind.OCCLUDED
        name = names.parent(name)
    if owner in cuts:
        return NameKind.DELEGATION
    # Orphan glue (an address record no longer under any cut) is authoritative data
    # and is signed (DPS 6.6).
    return NameKind.AUTHORITATIVE
