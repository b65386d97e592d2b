"""NSEC3 hashing and type bitmaps: RFC 5155 Appendix A known answers."""

from __future__ import annotations

from pathlib import Path

import dns.rdata
import dns.rdataclass
import dns.rdatatype
from hypothesis import given
from hypothesis import strategies as st

from tldsec.dnscore import names, nsec3, rdata
from tldsec.dnscore.rdatatext import RdataText

VECTORS = Path(__file__).parents[1] / "vectors" / "rfc5155-appendix-a-nsec3-hashes.tsv"


def rfc5155_hashes() -> list[tuple[str, str]]:
    rows = []
    for line in VECTORS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            owner, hashed, *_ = line.split()
            rows.append((owner, hashed.lower()))
    return rows


def test_rfc5155_appendix_a_hashes() -> None:
    rows = rfc5155_hashes()
    assert len(rows) == 11
    for owner, expected in rows:
        digest = nsec3.nsec3_hash(names.to_wire(owner), bytes.fromhex("aabbccdd"), 12)
        assert rdata.base32hex(digest) == expected, owner


def test_hash_ignores_case() -> None:
    salt = b"\xaa"
    assert nsec3.nsec3_hash(names.to_wire("A.Example."), salt, 1) == nsec3.nsec3_hash(
        names.to_wire("a.example."), salt, 1
    )


@given(st.sets(st.integers(min_value=1, max_value=65535), max_size=20))
def test_type_bitmap_round_trips_and_matches_dnspython(types: set[int]) -> None:
    bitmap = rdata.type_bitmap(types)
    assert rdata.bitmap_types(bitmap) == sorted(types)
    # dnspython's NSEC3 parser builds the same bitmap from the type list.
    text = "1 0 0 - 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom " + " ".join(
        dns.rdatatype.to_text(dns.rdatatype.RdataType.make(t)) for t in sorted(types)
    )
    rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.NSEC3, text)
    ours = nsec3.nsec3_rdata(rd.next, types, b"", 0)  # type: ignore[attr-defined]
    assert ours == rd.to_wire()


def test_nsec3_text_round_trips() -> None:
    wire = nsec3.nsec3_rdata(b"\x01" * 20, {1, 2, 46}, b"\xaa\xbb", 5)
    text = rdata.to_text(50, wire)
    assert text.startswith("1 0 5 AABB ")
    assert RdataText().rdata_from_text(50, text) == wire
