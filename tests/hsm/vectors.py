"""The RFC 5702 6.1 known answer as test data, and RRSIG signed data built by hand.

Shared by the memory/file tests here and the SoftHSM2 tests in tests/integration/.
The signed data is built straight from RFC 4034 3.1.8.1 with struct and dnspython's
wire forms, independently of tldsec's signer and of ``dns.dnssec``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.RRSIG import RRSIG

from tldsec.hsm.bind_keyfile import BindPrivateKey, read_bind_private_key

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
RFC5702_PRIVATE = VECTORS / "Kexample.net.+008+09033.private"
RFC5702_RECORDS = VECTORS / "rfc5702-6.1-rsasha256.txt"
RFC5702_KEY_TAG = 9033


@dataclass(frozen=True, slots=True)
class SignedRRset:
    """An RRset, its published RRSIG and the DNSKEY that signed it."""

    rrset: dns.rrset.RRset
    rrsig: RRSIG
    dnskey: DNSKEY
    signer: dns.name.Name


def rfc5702_key() -> BindPrivateKey:
    return read_bind_private_key(RFC5702_PRIVATE)


def rfc5702_records() -> SignedRRset:
    """The DNSKEY, A RRset and RRSIG of RFC 5702 section 6.1."""
    by_type: dict[str, dns.rrset.RRset] = {}
    for line in RFC5702_RECORDS.read_text("ascii").splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        name, ttl, rdclass, rdtype, rdata = line.split(None, 4)
        by_type[rdtype] = dns.rrset.from_text(name, int(ttl), rdclass, rdtype, rdata)
    rrsig = by_type["RRSIG"][0]
    dnskey = by_type["DNSKEY"][0]
    assert isinstance(rrsig, RRSIG) and isinstance(dnskey, DNSKEY)
    return SignedRRset(by_type["A"], rrsig, dnskey, by_type["DNSKEY"].name)


def rrsig_signed_data(rrset: dns.rrset.RRset, rrsig: RRSIG) -> bytes:
    """signature = sign(RRSIG_RDATA | RR(1) | RR(2)...) (RFC 4034 3.1.8.1).

    RRSIG_RDATA: the RRSIG RDATA without the Signature field, signer's name canonical;
    RR(i): owner | type | class | original TTL | RDATA length | RDATA, owner canonical,
    RRs in canonical order (RFC 4034 6.3: by RDATA as a left-justified octet string).
    """
    head = struct.pack(
        "!HBBIIIH",
        rrsig.type_covered,
        rrsig.algorithm,
        rrsig.labels,
        rrsig.original_ttl,
        rrsig.expiration,
        rrsig.inception,
        rrsig.key_tag,
    )
    data = head + rrsig.signer.canonicalize().to_wire()
    owner = rrset.name.canonicalize().to_wire()
    assert owner is not None
    for rdata in sorted(rd.to_wire(canonicalize=True) for rd in rrset):
        data += owner + struct.pack(
            "!HHIH", rrset.rdtype, rrset.rdclass, rrsig.original_ttl, len(rdata)
        )
        data += rdata
    return data
