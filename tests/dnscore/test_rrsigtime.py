"""RRSIG times as written (RFC 4034 3.2): the one parser, against the C library and dnspython."""

from __future__ import annotations

import calendar
import time

import dns.rdtypes.ANY.RRSIG
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tldsec.dnscore.rrsigtime import parse_rrsig_time
from tldsec.errors import BadRdata


@given(st.integers(0, 2**32 - 1))
def test_both_forms_read_back_the_seconds(seconds: int) -> None:
    text = time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds))
    assert parse_rrsig_time(text) == seconds
    assert parse_rrsig_time(str(seconds)) == seconds
    assert dns.rdtypes.ANY.RRSIG.sigtime_to_posixtime(text) == seconds


def test_a_date_past_2106_wraps_modulo_2_to_the_32() -> None:
    # RFC 4034 3.1.5: a serial number of seconds.
    seconds = calendar.timegm((2107, 1, 1, 0, 0, 0, 0, 0, 0))
    assert parse_rrsig_time("21070101000000") == seconds % 2**32


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("2026120100000X", "no such time"),
        ("2026120X000000", "neither"),
        ("20261301000000", "no such date"),
        ("20261200000000", "no such date"),
        ("20261201240000", "no such time"),
        ("20261201006000", "no such time"),
        ("4294967296", "32 bits"),
        ("-1", "neither"),
        ("", "neither"),
        ("２０２６", "neither"),
    ],
)
def test_bad_times_are_refused_naming_the_token(token: str, why: str) -> None:
    with pytest.raises(BadRdata, match=why):
        parse_rrsig_time(token)
