"""RRSIG construction (RFC 4034 3): the RDATA header, the signed data, the validity window.

The signed data is the RRSIG RDATA without its signature, followed by every RR of the
RRset in canonical form and order (RFC 4034 3.1.8.1, 6.2, 6.3). Records stay as wire
bytes throughout: no dnspython object is built per record.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta

from tldsec.clock import to_epoch
from tldsec.dnscore import names
from tldsec.dnscore.rdata import RRSIG_HEAD
from tldsec.dnscore.types import CLASS_IN
from tldsec.dnscore.zone import RRset

_RR_FIXED = struct.Struct("!HHIH")


@dataclass(frozen=True, slots=True)
class ValidityWindow:
    """Inception and the range of expirations for one signing run (DPS 6.5)."""

    inception: int  # seconds since the epoch
    expiration_min: int
    jitter: int  # expiration = expiration_min + a per-RRset offset in [0, jitter]

    @classmethod
    def for_run(
        cls,
        now: datetime,
        validity_min: timedelta,
        validity_max: timedelta,
        inception_offset: timedelta,
    ) -> ValidityWindow:
        # Inception a little in the past, for resolvers whose clocks run slow.
        inception = to_epoch(now - inception_offset)
        return cls(
            inception=inception,
            expiration_min=inception + int(validity_min.total_seconds()),
            jitter=int((validity_max - validity_min).total_seconds()),
        )

    def expiration_for(self, owner: bytes, rtype: int) -> int:
        """Jittered expiration, fixed per RRset so re-signing spreads out over time."""
        if not self.jitter:
            return self.expiration_min
        h = hashlib.blake2b(owner + rtype.to_bytes(2, "big"), digest_size=4).digest()
        return self.expiration_min + int.from_bytes(h, "big") % (self.jitter + 1)


def rrsig_header(
    rrset: RRset,
    algorithm: int,
    key_tag: int,
    signer: bytes,
    inception: int,
    expiration: int,
    labels: int | None = None,
) -> bytes:
    """RRSIG RDATA up to and including the signer's name (RFC 4034 3.1). ``labels``:
    the owner's label count if the caller knows it (else it is counted)."""
    return (
        RRSIG_HEAD.pack(
            rrset.rtype,
            algorithm,
            names.label_count(rrset.owner) if labels is None else labels,
            rrset.ttl,
            expiration & 0xFFFFFFFF,
            inception & 0xFFFFFFFF,
            key_tag,
        )
        + signer
    )


def rrset_wire(rrset: RRset) -> bytes:
    """The RRs of an RRset in canonical form and order, as they enter the signed data."""
    owner = rrset.owner
    rtype = rrset.rtype
    ttl = rrset.ttl
    pack = _RR_FIXED.pack
    rdatas = rrset.rdatas
    if len(rdatas) == 1:  # most RRsets of a TLD (a DS, an NSEC3)
        rd = rdatas[0]
        return owner + pack(rtype, CLASS_IN, ttl, len(rd)) + rd
    return b"".join(owner + pack(rtype, CLASS_IN, ttl, len(rd)) + rd for rd in rdatas)


def signed_data(header: bytes, rrset: RRset) -> bytes:
    return header + rrset_wire(rrset)


@dataclass(frozen=True, slots=True)
class RrsigFields:
    """The fixed fields of an RRSIG RDATA, as reuse decisions need them."""

    type_covered: int
    algorithm: int
    labels: int
    original_ttl: int
    expiration: int
    inception: int
    key_tag: int
    signer: bytes

    @classmethod
    def parse(cls, rdata: bytes) -> RrsigFields:
        covered, alg, labels, ttl, exp, inc, tag = RRSIG_HEAD.unpack_from(rdata)
        i = RRSIG_HEAD.size
        while rdata[i]:
            i += 1 + rdata[i]
        return cls(covered, alg, labels, ttl, exp, inc, tag, rdata[RRSIG_HEAD.size : i + 1])
