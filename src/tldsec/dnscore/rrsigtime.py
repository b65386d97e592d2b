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
    if len(token) == 14:
        day = _DAY.get(token[:8])
        if day is None:
            day = _day(token)
        hms = token[8:]
        if hms.isdigit() and hms.isascii():
            n = int(hms)
            hour, minute, second = n // 10000, n // 100 % 100, n % 100
            if hour < 24 and minute < 60 and second <= 60:
                return (day + hour * 3600 + minute * 60 + second) & 0xFFFFFFFF
        raise BadRdata(f"bad RRSIG time {token!r}: no such time of day")
    if not token.isdigit() or not token.isascii():
        raise BadRdata(f"bad RRSIG time {token!r}: neither YYYYMMDDHHmmSS nor seconds")
    value = int(token)
    if value > 0xFFFFFFFF:
        raise BadRdata(f"RRSIG time {token} does not fit in 32 bits (RFC 4034 3.1.5)")
    return value


def _day(token: str) -> int:
    """Seconds at the midnight (UTC) that starts the day YYYYMMDD of ``token``."""
    date = token[:8]
    if not (date.isdigit() and date.isascii()):
        raise BadRdata(f"bad RRSIG time {token!r}: neither YYYYMMDDHHmmSS nor seconds")
    month, mday = int(date[4:6]), int(date[6:8])
    if not (1 <= month <= 12 and 1 <= mday <= 31):
        raise BadRdata(f"bad RRSIG time {token!r}: no such date")
    day = calendar.timegm((int(date[0:4]), month, mday, 0, 0, 0))
    if len(_DAY) < _DAY_CACHE_MAX:
        _DAY[date] = day
    return day
