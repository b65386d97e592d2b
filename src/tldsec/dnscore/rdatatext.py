"""Names, types, TTLs and RDATA as a zone file writes them: the one place presentation
text becomes wire form (decision 77), for the zone reader and the primary's records.

Canonical wire form (RFC 4034 6.2: names lowercased), built directly, with caches, for
the types a signed TLD zone has many of (RRSIG RFC 4034 3.2, NSEC3 RFC 5155 3.3, NS, A,
AAAA, DS), directly without caches for SOA, DNSKEY, NSEC3PARAM, CNAME and PTR, and
through dnspython for quoted strings, escapes and every other type. ``RdataText`` keeps
the caches one zone's records share; ``zoneread`` reads the lines.
"""

from __future__ import annotations

import base64
import binascii
import re
import socket
import struct

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.ttl

from tldsec.dnscore import names, rdata
from tldsec.dnscore.rdata import DS_HEAD, NSEC3_HEAD, RRSIG_HEAD
from tldsec.dnscore.rrsigtime import parse_rrsig_time
from tldsec.dnscore.signedfile import rest_after
from tldsec.dnscore.types import RRType, type_text
from tldsec.errors import BadName, BadRdata

_SOA_TAIL = struct.Struct("!IIIII")  # RFC 1035 3.3.13
_B32HEX = re.compile(r"[0-9A-Va-v]*\Z")
_NAME_CACHE_MAX = 200_000
# Base64 is read with strict_mode: a character outside the alphabet is refused, not
# skipped (RFC 4648 3.3).


class Reject(Exception):
    """A line the reader cannot accept (the reader adds the file and line)."""


# The mnemonics tldsec names, read without asking dnspython.
_TYPE_NUMBERS: dict[str, int] = {t.name: int(t) for t in RRType}


def type_from_text(token: str) -> int:
    """The number of a type mnemonic, or of ``TYPEnnn`` (RFC 3597 5); ``BadRdata`` if
    it is neither."""
    value = _TYPE_NUMBERS.get(token)
    if value is not None:
        return value
    try:
        return int(dns.rdatatype.from_text(token))
    except (dns.exception.DNSException, ValueError):
        raise BadRdata(f"unknown record type {token!r}") from None


class RdataText:
    """Names, types and RDATA from text, with the caches a zone's records share."""

    def __init__(self) -> None:
        self.name_cache: dict[str, bytes] = {}
        self.type_cache: dict[str, int] = dict(_TYPE_NUMBERS)
        self.bitmap_cache: dict[str, bytes] = {}

    def rdata_from_text(self, rtype: int, text: str) -> bytes:
        """Canonical wire RDATA of one record from its presentation text, names in it
        absolute (a line as tldsec's zone writer makes it); ``BadRdata`` if it does not
        parse."""
        try:
            return self._rdata(rtype, text.split(), 0, text, False, names.ROOT)
        except Reject as exc:
            raise BadRdata(str(exc)) from None

    def _bitmap(self, tokens: list[str]) -> bytes:
        types = set()
        for t in tokens:
            n = self.type_cache.get(t)
            types.add(n if n is not None else type_from_text(t))
        return rdata.type_bitmap(types)

    def _name(self, text: str, origin: bytes) -> bytes:
        cached = self.name_cache.get(text)
        if cached is not None:
            return cached
        try:
            wire = names.to_wire(text, origin)
        except BadName as exc:
            raise Reject(str(exc)) from None
        if len(self.name_cache) < _NAME_CACHE_MAX:
            self.name_cache[text] = wire
        return wire

    def _type(self, token: str) -> int:
        up = token.upper()
        if up in ("CH", "HS", "CS", "NONE", "ANY") or (up.startswith("CLASS") and up[5:].isdigit()):
            raise Reject(f"class {token} is not IN: a TLD zone is class IN")
        try:
            value = type_from_text(token)
        except BadRdata as exc:
            raise Reject(str(exc)) from None
        self.type_cache[token] = value
        return value

    def _rdata(
        self, rtype: int, fields: list[str], i: int, line: str, plain: bool, origin: bytes
    ) -> bytes:
        """Canonical wire RDATA from ``fields[i:]`` (RFC 4034 6.2: names lowercased)."""
        n = len(fields) - i
        if not n and rtype != RRType.NSEC3PARAM:
            raise Reject(f"{type_text(rtype)} record without RDATA")
        try:
            if not plain and ('"' in line or "\\" in line):
                return _generic(rtype, rest_after(line, fields[i:]), origin)
            if rtype == 46 and n >= 9:
                return self._rrsig(fields, i, origin)
            if rtype == 2 and n == 1:
                return self._name(fields[i], origin)
            if rtype == 50 and n >= 5:
                return self._nsec3(fields, i)
            if rtype == 1 and n == 1:
                return socket.inet_pton(socket.AF_INET, fields[i])
            if rtype == 28 and n == 1:
                return socket.inet_pton(socket.AF_INET6, fields[i])
            if rtype == 43 and n >= 4:
                return DS_HEAD.pack(
                    int(fields[i]), int(fields[i + 1]), int(fields[i + 2])
                ) + bytes.fromhex("".join(fields[i + 3 :]))
            return self._few(rtype, fields, i, origin)
        except (BadRdata, BadName) as exc:
            raise Reject(str(exc)) from None
        except (ValueError, OSError, struct.error, binascii.Error, OverflowError) as exc:
            raise Reject(f"bad {type_text(rtype)} RDATA {' '.join(fields[i:])!r}: {exc}") from None

    def _few(self, rtype: int, f: list[str], i: int, origin: bytes) -> bytes:
        """The types a zone has a few of; the field counts the fast paths do not take."""
        n = len(f) - i
        if rtype == 6 and n == 7:
            # SOA (RFC 1035 3.3.13).
            return (
                self._name(f[i], origin)
                + self._name(f[i + 1], origin)
                + _SOA_TAIL.pack(_serial(f[i + 2]), *map(_seconds, f[i + 3 : i + 7]))
            )
        if rtype == 48 and n >= 3:
            # DNSKEY (RFC 4034 2.2): flags, protocol, algorithm, the key in base64.
            key = binascii.a2b_base64("".join(f[i + 3 :]), strict_mode=True)
            return DS_HEAD.pack(int(f[i]), int(f[i + 1]), int(f[i + 2])) + key
        if rtype == 51 and n == 4:
            # NSEC3PARAM (RFC 5155 4.3).
            salt = salt_from_text(f[i + 3])
            return NSEC3_HEAD.pack(int(f[i]), int(f[i + 1]), int(f[i + 2]), len(salt)) + salt
        if (rtype == 5 or rtype == 12) and n == 1:
            # CNAME, PTR.
            return self._name(f[i], origin)
        need = _FIELDS.get(rtype)
        if need is not None:
            raise BadRdata(f"{type_text(rtype)} needs {need}, not {n} fields")
        return _generic(rtype, " ".join(f[i:]), origin)

    def _rrsig(self, f: list[str], i: int, origin: bytes) -> bytes:
        """RRSIG RDATA (RFC 4034 3.1, presentation form 3.2)."""
        tc = self.type_cache.get(f[i])
        signer = self.name_cache.get(f[i + 7]) or self._name(f[i + 7], origin)
        return (
            RRSIG_HEAD.pack(
                tc if tc is not None else self._type(f[i]),
                int(f[i + 1]),
                int(f[i + 2]),
                int(f[i + 3]),
                parse_rrsig_time(f[i + 4]),
                parse_rrsig_time(f[i + 5]),
                int(f[i + 6]),
            )
            + signer
            + binascii.a2b_base64(
                "".join(f[i + 8 :]) if len(f) > i + 9 else f[i + 8], strict_mode=True
            )
        )

    def _nsec3(self, f: list[str], i: int) -> bytes:
        """NSEC3 RDATA (RFC 5155 3.2, presentation form 3.3)."""
        salt = salt_from_text(f[i + 3])
        hashed = b32hex_from_text(f[i + 4])
        key = " ".join(f[i + 5 :])
        bitmap = self.bitmap_cache.get(key)
        if bitmap is None:
            bitmap = self.bitmap_cache[key] = self._bitmap(f[i + 5 :])
        return (
            NSEC3_HEAD.pack(int(f[i]), int(f[i + 1]), int(f[i + 2]), len(salt))
            + salt
            + bytes((len(hashed),))
            + hashed
            + bitmap
        )


# What the types built here need, for a record with another count of fields.
_FIELDS: dict[int, str] = {
    RRType.RRSIG: "9 fields or more (RFC 4034 3.2)",
    RRType.NSEC3: "5 fields or more (RFC 5155 3.3)",
    RRType.DS: "key tag, algorithm, digest type and digest (RFC 4034 5.3)",
    RRType.DNSKEY: "flags, protocol, algorithm and key (RFC 4034 2.2)",
    RRType.NSEC3PARAM: "algorithm, flags, iterations and salt (RFC 5155 4.3)",
    RRType.SOA: "MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM (RFC 1035 3.3.13)",
    RRType.NS: "one name",
    RRType.CNAME: "one name",
    RRType.PTR: "one name",
    RRType.A: "one address",
    RRType.AAAA: "one address",
}


def _generic(rtype: int, text: str, origin: bytes) -> bytes:
    """Any type, through dnspython's parser (quoted strings, escapes, rare types)."""
    try:
        origin_name = dns.name.from_wire(origin, 0)[0]
        rd = dns.rdata.from_text(
            dns.rdataclass.IN, dns.rdatatype.RdataType.make(rtype), text, origin=origin_name
        )
        return rd.to_digestable(origin_name)
    except (dns.exception.DNSException, ValueError) as exc:
        raise BadRdata(f"bad {type_text(rtype)} RDATA {text!r}: {exc}") from exc


def _serial(text: str) -> int:
    """A SOA serial: plain digits, 32 bits (RFC 1035 3.3.13, RFC 1982)."""
    if not (text.isascii() and text.isdigit()) or int(text) > 0xFFFFFFFF:
        raise BadRdata(f"SOA serial {text!r} is not a number from 0 to 4294967295")
    return int(text)


def _seconds(text: str) -> int:
    """A SOA timer: 32-bit seconds (RFC 1035 3.3.13), with BIND's units as dnspython reads
    them (1h, 15m, 1w)."""
    try:
        return int(dns.ttl.from_text(text))
    except dns.exception.DNSException:
        raise BadRdata(f"SOA timer {text!r} is not 32-bit seconds (or 1h, 15m, 1w ...)") from None


def ttl_from_text(token: str) -> int:
    try:
        value = int(token) if token.isdigit() else int(dns.ttl.from_text(token))
    except (dns.exception.DNSException, ValueError):
        raise Reject(f"bad TTL {token!r}") from None
    if value > 0x7FFFFFFF:
        raise Reject(f"TTL {value} exceeds 2^31-1 (RFC 2181 8)")
    return value


def salt_from_text(text: str) -> bytes:
    return b"" if text == "-" else bytes.fromhex(text)


def b32hex_from_text(text: str) -> bytes:
    """Base 32 with the extended hex alphabet (RFC 4648 7), no padding, any case."""
    if not _B32HEX.match(text):
        raise ValueError(f"{text!r} is not base32hex")
    if len(text) % 8 == 0:
        # base32hex digits are Python's base-32 digits: a 40-bit group per 8 characters.
        return int(text, 32).to_bytes(len(text) * 5 // 8, "big")
    # RFC 4648 6: the last group is padded to 8 characters.
    return base64.b32hexdecode(text.upper() + "=" * (-len(text) % 8))
