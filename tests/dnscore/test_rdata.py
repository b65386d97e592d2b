"""RDATA presentation: base32hex, RRSIG times and RRSIG/NSEC3 text, against the RFCs
and dnspython."""

from __future__ import annotations

import base64
import time

import dns.rdata
import dns.rdataclass
import dns.rdatatype
from hypothesis import given
from hypothesis import strategies as st

from tldsec.dnscore import names, rdata
from tldsec.dnscore.types import RRType


@given(st.binary(min_size=0, max_size=30))
def test_base32hex_is_rfc4648_extended_hex_lowercase_unpadded(data: bytes) -> None:
    expected = base64.b32hexencode(data).decode("ascii").rstrip("=").lower()
    assert rdata.base32hex(data) == expected


@given(st.integers(0, 2**32 - 1))
def test_rrsig_times_are_utc_yyyymmddhhmmss(seconds: int) -> None:
    # RFC 4034 3.2
    assert rdata._timestamp(seconds) == time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds))


signer = st.sampled_from(["example.", "a.example.", "example.org.", "."]).map(names.to_wire)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([RRType.NS, RRType.DS, RRType.NSEC3, RRType.A]),
            st.integers(0, 2**32 - 1),  # expiration
            st.integers(0, 2**32 - 1),  # inception
            signer,
            st.binary(min_size=1, max_size=64),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_rrsig_text_parses_back_in_dnspython(
    sigs: list[tuple[int, int, int, bytes, bytes]],
) -> None:
    """The cached header parts never leak from one RRSIG into another's text."""
    for covered, expiration, inception, name, signature in sigs:
        wire = (
            rdata.RRSIG_HEAD.pack(covered, 8, 2, 86400, expiration, inception, 4242)
            + name
            + signature
        )
        text = rdata.rrsig_to_text(wire)
        parsed = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.RRSIG, text)
        assert parsed.to_digestable() == wire
