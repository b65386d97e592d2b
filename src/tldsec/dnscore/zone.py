"""A zone in memory: RRsets keyed by owner, each carrying the RRSIGs that cover it.

Compact by design (one small object per RRset, RDATA as canonical wire bytes, owner
names shared), because a TLD zone has millions of RRsets and the signer must not
build a dnspython object per record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tldsec.dnscore import names
from tldsec.dnscore.types import RRType


@dataclass(slots=True)
class RRset:
    """One RRset: owner (canonical wire), type, TTL, RDATAs (canonical wire, sorted)."""

    owner: bytes
    rtype: int
    ttl: int
    rdatas: list[bytes]
    # RRSIG RDATAs covering this RRset; a tuple, so the many unsigned RRsets share ().
    sigs: tuple[bytes, ...] = ()


@dataclass(slots=True)
class Zone:
    """An origin and its RRsets, grouped by owner name."""

    origin: bytes
    nodes: dict[bytes, list[RRset]] = field(default_factory=dict)
    # The canonical order of ``nodes``, kept once computed; valid while no owner is
    # added or removed (``add`` forgets it when it adds an owner).
    _order: list[bytes] | None = field(default=None, repr=False, compare=False)

    def add(self, rrset: RRset) -> None:
        node = self.nodes.get(rrset.owner)
        if node is None:
            self.nodes[rrset.owner] = [rrset]
            self._order = None
        else:
            node.append(rrset)

    def add_all(self, rrsets: Iterable[RRset]) -> None:
        """``add`` for many RRsets."""
        nodes = self.nodes
        for rrset in rrsets:
            node = nodes.get(rrset.owner)
            if node is None:
                nodes[rrset.owner] = [rrset]
                self._order = None
            else:
                node.append(rrset)

    def get(self, owner: bytes, rtype: int) -> RRset | None:
        for rrset in self.nodes.get(owner, ()):
            if rrset.rtype == rtype:
                return rrset
        return None

    def rrsets(self) -> Iterator[RRset]:
        for node in self.nodes.values():
            yield from node

    def canonical_owners(self) -> list[bytes]:
        """Owner names in canonical order (RFC 4034 6.1), computed once.

        Sorting a large zone allocates a key per name; the signer asks for the order
        before it adds signatures, so that peak never stacks on the signed zone's size.
        """
        if self._order is None or len(self._order) != len(self.nodes):
            self._order = sorted(self.nodes, key=names.canonical_key_under(self.origin))
        return self._order

    def soa(self) -> RRset:
        soa = self.get(self.origin, RRType.SOA)
        if soa is None:
            raise LookupError("the zone has no SOA at its origin")
        return soa


def soa_serial(soa_rdata: bytes) -> int:
    """The SERIAL field of SOA RDATA (RFC 1035 3.3.13)."""
    return int.from_bytes(soa_rdata[-20:-16], "big")


def soa_minimum(soa_rdata: bytes) -> int:
    return int.from_bytes(soa_rdata[-4:], "big")


def denial_ttl(soa: RRset) -> int:
    """The TTL of the NSEC3 and NSEC3PARAM records: the smaller of the SOA's TTL and its
    MINIMUM field (RFC 9077 3)."""
    return min(soa.ttl, soa_minimum(soa.rdatas[0]))
