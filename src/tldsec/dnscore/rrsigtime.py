"""RRSIG times as written in a zone file: the one parser every reader uses (RFC 4034 3.2).

The presentation form of an RRSIG's Signature Expiration and Inception is either
YYYYMMDDHHmmSS in UTC or a decimal count of seconds since the epoch; the wire form is a
32-bit serial number of seconds (RFC 4034 3.1.5), so a date past 2106 wraps modulo
2**32. The signer's RDATA reader (``rdata``), the verifier's zone reader and the
incremental verifier's whole-file scan (``signedfile``) all read times here.
"""

from __future__ import annotations

import calendar

from tldsec.errors import BadRdata

_DAY: dict[str, int] = {}  # YYYYMMDD -> seconds at its midnight (UTC)
_DAY_CACHE_MAX = 100_000


def parse_rrsig_time(token: str) -> int:
    """An RRSIG time, YYYYMMDDHHmmSS (UTC) or seconds, as the 32-bit wire value.

    ``BadRdata`` (a ``ValueError``) names the token when it is neither form.
    """
    if len(token) == 14 and token.isdigit() and token.isascii():
        hour, minute, second = int(token[8:10]), int(token[10:12]), int(token[12:14])
        day = _DAY.get(token[:8])
        if day is None:
            month, mday = int(token[4:6]), int(token[6:8])
            if not (1 <= month <= 12 and 1 <= mday <= 31):
                raise BadRdata(f"bad RRSIG time {token!r}: no such date")
            day = calendar.timegm((int(token[0:4]), month, mday, 0, 0, 0))
            if len(_DAY) < _DAY_CACHE_MAX:
                _DAY[token[:8]] = day
        if hour > 23 or minute > 59 or second > 60:
            raise BadRdata(f"bad RRSIG time {token!r}: no such time of day")
        return (day + hour * 3600 + minute * 60 + second) & 0xFFFFFFFF
    if not token.isdigit() or not token.isascii():
        raise BadRdata(f"bad RRSIG time {token!r}: neither YYYYMMDDHHmmSS nor seconds")
    value = int(token)
    if value > 0xFFFFFFFF:
        raise BadRdata(f"RRSIG time {token} does not fit in 32 bits (RFC 4034 3.1.5)")
    return value
