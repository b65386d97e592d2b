"""RDATA from presentation text (``rdatatext``, the one place it becomes wire)."""

from __future__ import annotations

import base64

import dns.rdata
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tldsec.dnscore import names
from tldsec.dnscore.rdatatext import RdataText, b32hex_from_text, type_from_text
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zonefile import read_zone_text
from tldsec.dnscore.zoneread import read_zone_string
from tldsec.errors import BadRdata, ZoneSyntaxError


@given(st.binary(min_size=1, max_size=30), st.booleans())
def test_base32hex_reads_any_length_in_either_case(data: bytes, upper: bool) -> None:
    # RFC 4648 7, no padding (RFC 5155 3.3); an NSEC3 hash may be 1 to 255 octets.
    text = base64.b32hexencode(data).decode("ascii").rstrip("=")
    assert b32hex_from_text(text if upper else text.lower()) == data


def test_an_nsec3_next_hashed_owner_of_any_length_is_read() -> None:
    for length in (1, 2, 3, 4, 5, 19, 20, 21):
        hashed = bytes(range(1, length + 1))
        text = base64.b32hexencode(hashed).decode("ascii").rstrip("=").lower()
        zone = read_zone_string(f"example. 60 IN NSEC3 1 0 0 - {text} NS\n", "example.").zone
        rrset = zone.get(names.to_wire("example."), RRType.NSEC3)
        assert rrset is not None
        head = b"\x01\x00\x00\x00\x00"  # SHA-1, no flags, 0 iterations, no salt
        assert rrset.rdatas == [head + bytes((length,)) + hashed + b"\x00\x01\x20"]  # NS


@pytest.mark.parametrize(
    ("rtype", "text"),
    [
        (RRType.RRSIG, "NS 8 2 3600 20261215042125 20261207190841 40665 example."),
        (RRType.NSEC3, "1 0 0 -"),
        (RRType.DS, "12345 8 2"),
        (RRType.DNSKEY, "257 3"),
        (RRType.NSEC3PARAM, "1 0 0 - extra"),
        (RRType.SOA, "a.example. b.example. 1 2 3 4"),
        (RRType.NS, "a.example. b.example."),
        (RRType.CNAME, "a.example. b.example."),
        (RRType.A, "192.0.2.1 192.0.2.2"),
        (RRType.AAAA, "2001:db8::1 2001:db8::2"),
    ],
)
def test_a_field_count_the_type_cannot_have_is_bad_rdata(rtype: RRType, text: str) -> None:
    with pytest.raises(BadRdata, match=f"^{rtype.name} needs .*, not {len(text.split())} fields"):
        RdataText().rdata_from_text(rtype, text)


def test_type_names_and_numbers() -> None:
    # RFC 3597 5: TYPEnnn for any type, a mnemonic in any case.
    assert type_from_text("NSEC3") == type_from_text("nsec3") == 50
    assert type_from_text("TYPE65534") == 65534
    with pytest.raises(BadRdata, match="unknown record type 'BOGUS'"):
        type_from_text("BOGUS")


def test_soa_timers_may_carry_units_as_bind_and_dnspython_read_them() -> None:
    # RFC 1035 3.3.13 gives REFRESH, RETRY, EXPIRE, MINIMUM as 32-bit seconds; zone files
    # written for BIND, Knot or NSD often say 1h, 15m, 1w.
    text = "example. 60 IN SOA ns.example. hm.example. 2026120701 1h 15m 1w 1h\n"
    zone = read_zone_string(text, "example.").zone
    rrset = zone.get(names.to_wire("example."), RRType.SOA)
    assert rrset is not None
    theirs = dns.rdata.from_text("IN", "SOA", text.split(None, 4)[4])
    assert rrset.rdatas == [theirs.to_digestable()]


@pytest.mark.parametrize("serial", ["1h", "+5", "1_0", "-1", "4294967296"])
def test_a_soa_serial_is_plain_digits_within_32_bits(serial: str) -> None:
    text = f"example. 60 IN SOA ns.example. hm.example. {serial} 3600 900 604800 3600\n"
    with pytest.raises(ZoneSyntaxError, match="serial"):
        read_zone_text(text, "example.")
