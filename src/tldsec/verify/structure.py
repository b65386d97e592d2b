"""The verifier's own reading of a zone's structure (RFC 1034 4.2, RFC 4035 2.2, RFC 5155 7.1).

Every name in a signed zone is one of: the apex; authoritative data; a delegation (a
zone cut below the apex: NS, perhaps DS); occluded (below a cut, or the address records
at a cut: glue, not the zone's data); an empty non-terminal (no records, but names
below it); or an NSEC3 owner (a hashed name holding only the NSEC3 record). Written
apart from the signer on purpose (DPS 6.6): the two must agree without sharing code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tldsec.dnscore import names
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset, Zone

NSEC3 = int(RRType.NSEC3)
NS = int(RRType.NS)
DS = int(RRType.DS)
RRSIG = int(RRType.RRSIG)
# The records a signer adds; the unsigned zone has none of them.
DNSSEC_ADDED = frozenset(
    {int(RRType.RRSIG), int(RRType.NSEC), NSEC3, int(RRType.NSEC3PARAM), int(RRType.DNSKEY)}
)


@dataclass(slots=True)
class Structure:
    """Where every owner of a signed zone belongs."""

    origin: bytes
    cuts: set[bytes] = field(default_factory=set)  # delegation points below the apex
    authoritative: list[bytes] = field(default_factory=list)  # apex included
    delegations: list[bytes] = field(default_factory=list)
    occluded: list[bytes] = field(default_factory=list)
    empty_non_terminals: list[bytes] = field(default_factory=list)
    nsec3_owners: list[bytes] = field(default_factory=list)  # owners holding an NSEC3 RRset
    # Owners holding NSEC3 beside other data: an NSEC3 owner colliding with a name.
    nsec3_with_data: list[bytes] = field(default_factory=list)


def analyse(zone: Zone) -> Structure:
    """Classify every owner of ``zone``."""
    origin = zone.origin
    s = Structure(origin=origin)
    cuts = s.cuts
    for owner, node in zone.nodes.items():
        if owner == origin:
            continue
        for rrset in node:
            if rrset.rtype == NS:
                cuts.add(owner)
                break
    nsec3_owners = s.nsec3_owners
    authoritative = s.authoritative
    delegations = s.delegations
    occluded = s.occluded
    parent = names.parent
    real: set[bytes] = set()  # owners that are names of the zone (not NSEC3-only)
    for owner, node in zone.nodes.items():
        if len(node) == 1:
            if node[0].rtype == NSEC3:
                nsec3_owners.append(owner)
                continue
        else:
            for r in node:
                if r.rtype == NSEC3:
                    nsec3_owners.append(owner)
                    s.nsec3_with_data.append(owner)
                    break
        real.add(owner)
        if owner == origin:
            authoritative.append(owner)
            continue
        # Occluded if any ancestor strictly between the owner and the apex is a cut.
        name = parent(owner)
        hidden = False
        while name != origin and len(name) > 1:
            if name in cuts:
                hidden = True
                break
            name = parent(name)
        if hidden:
            occluded.append(owner)
        elif owner in cuts:
            delegations.append(owner)
        else:
            # Orphan glue (an address no longer below any cut) is authoritative data
            # and is signed (DPS 6.6).
            authoritative.append(owner)
    # Empty non-terminals: names without records above an authoritative name or a cut.
    ents: set[bytes] = set()
    for group in (authoritative, delegations):
        for owner in group:
            name = owner
            while True:
                name = parent(name)
                if name == origin or len(name) <= 1 or name in real or name in ents:
                    break
                ents.add(name)
    s.empty_non_terminals = sorted(ents, key=names.canonical_key)
    return s


_DELEGATION = frozenset({NS})
_SIGNED_DELEGATION = frozenset({NS, DS, RRSIG})


def expected_bitmap_types(kind: str, node: list[RRset] | None) -> frozenset[int]:
    """The types the NSEC3 of a name must list (RFC 5155 3.2.1, RFC 4035 2.3).

    ``kind`` is "authoritative", "delegation" or "ent". RRSIG is listed where the name
    must carry signatures: every authoritative name with data, and a delegation with DS.
    At a delegation only NS and DS are the zone's data; glue there is not listed.
    """
    if kind == "ent" or not node:
        return frozenset()
    if kind == "delegation":
        for r in node:
            if r.rtype == DS:
                return _SIGNED_DELEGATION
        return _DELEGATION
    types = {r.rtype for r in node if r.rtype != NSEC3}
    if types:
        types.add(RRSIG)
    return frozenset(types)
