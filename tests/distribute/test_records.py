"""The primary's records from the signed file's lines (``records.line_to_wire``): for
every type the signer writes, the wire RR dnspython makes of the same line (decision 77).

Each record is written by the zone writer (``zonefile.zone_lines``) from its canonical
wire form, so the lines are the signer's: names absolute and lowercase (RFC 4034 6.2),
escaped where a label needs it; TXT quoted, with escapes, and a type without a mnemonic
(RFC 3597 5) by dnspython's formatter.
"""

from __future__ import annotations

import io
import struct

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from hypothesis import given
from hypothesis import strategies as st

from tldsec.distribute.records import line_to_wire
from tldsec.dnscore import names, rdata
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset, Zone
from tldsec.dnscore.zonefile import zone_lines

ORIGIN = names.to_wire("example.")

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
ttl = st.integers(0, 0x7FFFFFFF)
# Mostly the labels of a TLD, sometimes any octets (written escaped, \DDD or \.).
label = st.one_of(
    st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True).map(str.encode),
    st.binary(min_size=1, max_size=12).map(bytes.lower),
)
name = st.lists(label, min_size=0, max_size=3).map(
    lambda ls: b"".join(bytes((len(x),)) + x for x in ls) + ORIGIN
)
owner = st.lists(label, min_size=1, max_size=2).map(
    lambda ls: b"".join(bytes((len(x),)) + x for x in ls) + ORIGIN
)
rr_types = st.sampled_from(
    [RRType.A, RRType.NS, RRType.SOA, RRType.AAAA, RRType.DS, RRType.DNSKEY, 65534]
)


def ds() -> st.SearchStrategy[bytes]:
    # dnspython checks the digest's length for the digest types it knows (RFC 4509, 6605).
    digests = st.sampled_from([(1, 20), (2, 32), (4, 48)]).flatmap(
        lambda d: st.tuples(st.just(d[0]), st.binary(min_size=d[1], max_size=d[1]))
    )
    return st.builds(
        lambda tag, alg, digest: struct.pack("!HBB", tag, alg, digest[0]) + digest[1],
        u16,
        st.sampled_from([8, 13, 15]),
        digests,
    )


def dnskey() -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda flags, alg, key: struct.pack("!HBB", flags, 3, alg) + key,
        st.sampled_from([256, 257]),
        st.sampled_from([8, 13, 15]),
        st.binary(min_size=1, max_size=300),
    )


def rrsig() -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda covered, alg, labels, original, exp, inc, tag, signer, sig: (
            rdata.RRSIG_HEAD.pack(covered, alg, labels, original, exp, inc, tag) + signer + sig
        ),
        st.one_of(rr_types, st.sampled_from([RRType.NSEC3, RRType.NSEC3PARAM])),
        st.sampled_from([8, 13, 15]),
        st.integers(0, 4),
        ttl,
        u32,
        u32,
        u16,
        name,
        st.binary(min_size=1, max_size=300),
    )


def nsec3() -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda flags, iterations, salt, hashed, types: (
            struct.pack("!BBHB", 1, flags, iterations, len(salt))
            + salt
            + bytes((len(hashed),))
            + hashed
            + rdata.type_bitmap(types)
        ),
        st.sampled_from([0, 1]),
        u16,
        st.binary(max_size=16),
        st.one_of(st.binary(min_size=20, max_size=20), st.binary(min_size=1, max_size=40)),
        st.sets(st.one_of(rr_types, st.sampled_from([46, 50, 51, 1234])), max_size=8),
    )


def nsec3param() -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda iterations, salt: struct.pack("!BBHB", 1, 0, iterations, len(salt)) + salt,
        u16,
        st.binary(max_size=16),
    )


def soa() -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda m, r, nums: m + r + struct.pack("!5I", *nums),
        name,
        name,
        st.tuples(u32, u32, u32, u32, u32),
    )


def txt() -> st.SearchStrategy[bytes]:
    # Character-strings of any octets: quotes, backslashes, blanks, parentheses, ";".
    strings = st.lists(st.binary(max_size=60), min_size=1, max_size=3)
    return strings.map(lambda ss: b"".join(bytes((len(s),)) + s for s in ss))


records = st.one_of(
    st.tuples(st.just(RRType.RRSIG), rrsig()),
    st.tuples(st.just(RRType.NSEC3), nsec3()),
    st.tuples(st.just(RRType.NSEC3PARAM), nsec3param()),
    st.tuples(st.just(RRType.DNSKEY), dnskey()),
    st.tuples(st.just(RRType.DS), ds()),
    st.tuples(st.just(RRType.NS), name),
    st.tuples(st.just(RRType.A), st.binary(min_size=4, max_size=4)),
    st.tuples(st.just(RRType.AAAA), st.binary(min_size=16, max_size=16)),
    st.tuples(st.just(RRType.SOA), soa()),
    st.tuples(st.just(RRType.TXT), txt()),
    # A type without a mnemonic: TYPEnnn and \\# (RFC 3597 5).
    st.tuples(st.just(65534), st.binary(max_size=20)),
)


def written_line(owner_wire: bytes, rtype: int, ttl_value: int, rd: bytes) -> str:
    zone = Zone(origin=ORIGIN)
    zone.add(RRset(owner_wire, rtype, ttl_value, [rd]))
    (line,) = "".join(zone_lines(zone)).splitlines()
    return line


def dnspython_wire(line: str) -> bytes:
    """The uncompressed RR dnspython makes of ``owner TTL IN TYPE RDATA``."""
    owner_text, ttl_text, _, type_text, rdata_text = line.split("\t")
    rrset = dns.rrset.from_text(owner_text, int(ttl_text), "IN", type_text, rdata_text)
    out = io.BytesIO()
    rrset.to_wire(out)
    return out.getvalue()


@given(owner, ttl, records)
def test_a_written_line_is_the_record_dnspython_reads(
    owner_wire: bytes, ttl_value: int, record: tuple[int, bytes]
) -> None:
    rtype, rd = record
    line = written_line(owner_wire, rtype, ttl_value, rd)
    got_type, wire = line_to_wire(line)
    assert got_type == rtype
    assert wire == dnspython_wire(line)
    # And the record written: the line is its presentation form, nothing lost.
    assert wire == owner_wire + struct.pack("!HHIH", rtype, 1, ttl_value, len(rd)) + rd
