"""Records as the primary sends them, and one serial of the zone as it serves it.

Every record is one uncompressed wire-format RR (owner, type, class, TTL, RDLENGTH,
RDATA; RFC 1035 4.1.3); an RRSIG is a record of its own. A ``ZoneVersion`` is one serial:
the SOA and every other record. It is immutable, so a transfer that started on it keeps
it while a newer serial is loaded beside it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tldsec.dnscore import names
from tldsec.dnscore.rdatatext import RdataText, type_from_text
from tldsec.dnscore.signedfile import split_record
from tldsec.dnscore.types import CLASS_IN, RRType
from tldsec.dnscore.zone import Zone, soa_serial
from tldsec.dnscore.zonefile import read_zone
from tldsec.errors import ZoneSyntaxError

_RR_TAIL = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH


def rr_wire(owner: bytes, rtype: int, ttl: int, rd: bytes) -> bytes:
    """One resource record in wire form, owner uncompressed (RFC 1035 4.1.3)."""
    return owner + _RR_TAIL.pack(rtype, CLASS_IN, ttl, len(rd)) + rd


def rr_rdata(wire: bytes) -> bytes:
    i = 0
    while wire[i]:
        i += wire[i] + 1
    return wire[i + 11 :]


def line_to_wire(line: str, text: RdataText | None = None) -> tuple[int, bytes]:
    """(type, RR wire) of one ``owner TTL IN TYPE RDATA`` line with absolute names, as
    tldsec's zone writer makes them; ``text`` keeps the caches the lines of one
    difference share (a fresh one when not given)."""
    fields = split_record(line)
    if fields is None:
        raise ValueError(f"not an 'owner TTL IN TYPE RDATA' line: {line[:80]!r}")
    owner_text, ttl_text, type_token, rest = fields
    rtype = type_from_text(type_token)
    owner = names.to_wire_memo(owner_text)
    rd = (text or RdataText()).rdata_from_text(rtype, rest)
    return rtype, rr_wire(owner, rtype, int(ttl_text), rd)


def zone_records(zone: Zone) -> Iterator[bytes]:
    """Every record of ``zone`` but the SOA itself, RRSIGs after the RRset they cover."""
    sig_type = int(RRType.RRSIG)
    soa_type = int(RRType.SOA)
    for owner, node in zone.nodes.items():
        for rrset in node:
            head = owner + _RR_TAIL.pack(rrset.rtype, CLASS_IN, rrset.ttl, 0)[:-2]
            if rrset.rtype != soa_type or owner != zone.origin:
                for rd in rrset.rdatas:
                    yield head + len(rd).to_bytes(2, "big") + rd
            if rrset.sigs:
                sig_head = owner + _RR_TAIL.pack(sig_type, CLASS_IN, rrset.ttl, 0)[:-2]
                for sig in rrset.sigs:
                    yield sig_head + len(sig).to_bytes(2, "big") + sig


@dataclass(frozen=True, slots=True)
class ZoneVersion:
    """One serial of the zone: its SOA record and all the others, as wire RRs."""

    origin: bytes
    serial: int
    soa: bytes
    records: tuple[bytes, ...]

    @classmethod
    def from_zone(cls, zone: Zone) -> ZoneVersion:
        soa = zone.soa()
        rd = soa.rdatas[0]
        return cls(
            origin=zone.origin,
            serial=soa_serial(rd),
            soa=rr_wire(zone.origin, RRType.SOA, soa.ttl, rd),
            records=tuple(zone_records(zone)),
        )

    @classmethod
    def from_file(cls, path: Path, origin: str) -> ZoneVersion:
        """Read a signed zone file (the verified file the store holds)."""
        zone = read_zone(path, origin)
        try:
            return cls.from_zone(zone)
        except LookupError as exc:
            raise ZoneSyntaxError(str(path), None, str(exc)) from exc

    @property
    def soa_rdata(self) -> bytes:
        return rr_rdata(self.soa)

    def __len__(self) -> int:
        return len(self.records) + 1

    def axfr_records(self) -> Iterator[bytes]:
        """SOA, every record, SOA again (RFC 5936 2.2)."""
        yield self.soa
        yield from self.records
        yield self.soa

    def apply(
        self, serial: int, soa: bytes, deleted: Iterable[bytes], added: Iterable[bytes]
    ) -> ZoneVersion:
        """The next version: ``deleted`` records removed, ``added`` ones appended."""
        gone = set(deleted)
        kept = [r for r in self.records if r not in gone] if gone else list(self.records)
        kept.extend(added)
        return ZoneVersion(self.origin, serial, soa, tuple(kept))
