"""Resource record type numbers tldsec handles by name (IANA DNS parameters)."""

from __future__ import annotations

from enum import IntEnum

import dns.rdatatype


class RRType(IntEnum):
    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    PTR = 12
    MX = 15
    TXT = 16
    AAAA = 28
    SRV = 33
    DNAME = 39
    DS = 43
    RRSIG = 46
    NSEC = 47
    DNSKEY = 48
    NSEC3 = 50
    NSEC3PARAM = 51
    CDS = 59
    CDNSKEY = 60
    ZONEMD = 63


CLASS_IN = 1
# Types only a signer may produce; an unsigned input carrying them is refused.
DNSSEC_TYPES = frozenset(
    {RRType.RRSIG, RRType.NSEC, RRType.NSEC3, RRType.NSEC3PARAM, RRType.DNSKEY}
)
# Types whose RDATA names are lowercased in canonical form (RFC 4034 6.2, RFC 6840 5.1).
NAME_RDATA_TYPES = frozenset({RRType.NS, RRType.CNAME, RRType.PTR, RRType.DNAME})


_TYPE_TEXT: dict[int, str] = {}


def type_text(rtype: int) -> str:
    """Mnemonic of a type number (TYPE12345 for unknown ones, RFC 3597 5)."""
    text = _TYPE_TEXT.get(rtype)
    if text is None:
        text = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rtype))
        _TYPE_TEXT[rtype] = text
    return text
