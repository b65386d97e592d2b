"""RDATA from presentation text (``rdatatext``, the one place it becomes wire)."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from tldsec.dnscore import names
from tldsec.dnscore.rdatatext import b32hex_from_text
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zoneread import read_zone_string


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
