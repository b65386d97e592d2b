"""RDATA from canonical wire form to presentation text: the zone writer's formatters,
and the type bitmaps and base32hex the signer builds.

Fast paths for the types a TLD zone is made of (NS, A, AAAA, DS, and the DNSSEC types
the signer writes); every other type goes through dnspython. Text to wire is
``rdatatext``'s (decision 77).
"""

from __future__ import annotations

import base64
import functools
import socket
import struct
import time
from collections.abc import Callable

import dns.rdata
import dns.rdataclass
import dns.rdatatype

from tldsec.dnscore import names
from tldsec.dnscore.types import RRType, type_text

# Fixed heads of the wire RDATA: DS (RFC 4034 5.1) and DNSKEY (2.1) start alike.
DS_HEAD = struct.Struct("!HBB")
NSEC3_HEAD = struct.Struct("!BBHB")  # RFC 5155 3.2: algorithm, flags, iterations, salt length
# RFC 4034 3.1: type covered, algorithm, labels, original TTL, expiration, inception, tag
RRSIG_HEAD = struct.Struct("!HBBIIIH")


def to_text(rtype: int, wire: bytes) -> str:
    """Presentation form of canonical wire RDATA."""
    if rtype == RRType.NS or rtype == RRType.CNAME or rtype == RRType.PTR:
        return names.to_text_memo(wire)
    if rtype == RRType.A:
        return socket.inet_ntop(socket.AF_INET, wire)
    if rtype == RRType.AAAA:
        return socket.inet_ntop(socket.AF_INET6, wire)
    if rtype == RRType.DS:
        return _ds_text(wire)
    if rtype == RRType.RRSIG:
        return rrsig_to_text(wire)
    if rtype == RRType.NSEC3:
        return nsec3_to_text(wire)
    if rtype == RRType.DNSKEY:
        flags, proto, alg = DS_HEAD.unpack_from(wire)
        return f"{flags} {proto} {alg} {base64.b64encode(wire[4:]).decode('ascii')}"
    rd = dns.rdata.from_wire(
        dns.rdataclass.IN, dns.rdatatype.RdataType.make(rtype), wire, 0, len(wire)
    )
    return rd.to_text()


def _ds_text(wire: bytes) -> str:
    tag, alg, dtype = DS_HEAD.unpack_from(wire)
    return f"{tag} {alg} {dtype} {wire[4:].hex().upper()}"


def formatter(rtype: int) -> Callable[[bytes], str]:
    """A function from canonical wire RDATA of ``rtype`` to presentation text."""
    fast = _FORMATTERS.get(rtype)
    if fast is not None:
        return fast
    return lambda wire: to_text(rtype, wire)


# --- RRSIG (RFC 4034 3) -------------------------------------------------------------


def rrsig_signer_end(wire: bytes) -> int:
    """Offset where the signature field starts (after the signer's name)."""
    i = RRSIG_HEAD.size
    while wire[i]:
        i += 1 + wire[i]
    return i + 1


# RRSIG text is the same but for expiration and signature across a signing run: keep
# the rest once per (type, algorithm, labels, TTL, inception, key tag), with the signer.
_RRSIG_PARTS: dict[bytes, tuple[bytes, str, str]] = {}


def rrsig_to_text(wire: bytes) -> str:
    key = wire[:8] + wire[12:18]
    parts = _RRSIG_PARTS.get(key)
    if parts is not None and wire.startswith(parts[0], 18):
        # A wire name ends with its root label, so a match is the whole signer name.
        end = 18 + len(parts[0])
        pre, post = parts[1], parts[2]
    else:
        covered, alg, labels, ttl, _exp, inc, tag = RRSIG_HEAD.unpack_from(wire)
        end = rrsig_signer_end(wire)
        signer = names.to_text_memo(wire[RRSIG_HEAD.size : end])
        pre = f"{type_text(covered)} {alg} {labels} {ttl} "
        post = f" {_timestamp(inc)} {tag} {signer} "
        if len(_RRSIG_PARTS) < 4096:
            _RRSIG_PARTS[key] = (wire[18:end], pre, post)
    return (
        pre
        + _timestamp(int.from_bytes(wire[8:12], "big"))
        + post
        + base64.b64encode(wire[end:]).decode("ascii")
    )


_DAY_TEXT: dict[int, str] = {}
_TWO_DIGITS = [f"{i:02d}" for i in range(60)]


def _timestamp(seconds: int) -> str:
    # RFC 4034 3.2: YYYYMMDDHHmmSS in UTC.
    day, rest = divmod(seconds, 86400)
    date = _DAY_TEXT.get(day)
    if date is None:
        date = time.strftime("%Y%m%d", time.gmtime(day * 86400))
        if len(_DAY_TEXT) < 100_000:
            _DAY_TEXT[day] = date
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    two = _TWO_DIGITS
    return date + two[hour] + two[minute] + two[second]


# --- NSEC3 (RFC 5155 3) -------------------------------------------------------------


_B32HEX = "0123456789abcdefghijklmnopqrstuv"
_B32_PAIRS = [a + b for a in _B32HEX for b in _B32HEX]  # 10 bits -> two characters


_B32_TRIPLES = [p + c for p in _B32_PAIRS for c in _B32HEX]  # 15 bits -> three characters


def base32hex(data: bytes) -> str:
    """Base 32 with the extended hex alphabet, lowercase, no padding (RFC 4648 7)."""
    if len(data) == 20:
        # A SHA-1 hash (every NSEC3 owner and next-owner field): 160 bits as ten
        # 15-bit groups and one 10-bit group.
        n = int.from_bytes(data, "big")
        t = _B32_TRIPLES
        m = 0x7FFF
        return "".join(
            (
                t[n >> 145],
                t[(n >> 130) & m],
                t[(n >> 115) & m],
                t[(n >> 100) & m],
                t[(n >> 85) & m],
                t[(n >> 70) & m],
                t[(n >> 55) & m],
                t[(n >> 40) & m],
                t[(n >> 25) & m],
                t[(n >> 10) & m],
                _B32_PAIRS[n & 0x3FF],
            )
        )
    if len(data) % 5:
        return base64.b32hexencode(data).rstrip(b"=").lower().decode("ascii")
    pairs = _B32_PAIRS
    out = []
    for i in range(0, len(data), 5):
        n = int.from_bytes(data[i : i + 5], "big")
        out.append(
            pairs[n >> 30] + pairs[(n >> 20) & 1023] + pairs[(n >> 10) & 1023] + pairs[n & 1023]
        )
    return "".join(out)


_NSEC3_HEAD_TEXT: dict[bytes, str] = {}


def nsec3_to_text(wire: bytes) -> str:
    i = 5 + wire[4]  # after the salt
    head = _NSEC3_HEAD_TEXT.get(wire[:i])
    if head is None:
        alg, flags, iterations, _ = NSEC3_HEAD.unpack_from(wire)
        salt = wire[5:i].hex().upper() or "-"
        head = f"{alg} {flags} {iterations} {salt} "
        if len(_NSEC3_HEAD_TEXT) < 4096:
            _NSEC3_HEAD_TEXT[wire[:i]] = head
    hash_len = wire[i]
    next_hash = base32hex(wire[i + 1 : i + 1 + hash_len])
    types = _bitmap_text(wire[i + 1 + hash_len :])
    return head + next_hash + (" " + types if types else "")


_BITMAP_TEXT: dict[bytes, str] = {}


def _bitmap_text(bitmap: bytes) -> str:
    text = _BITMAP_TEXT.get(bitmap)
    if text is None:
        text = " ".join(type_text(t) for t in bitmap_types(bitmap))
        if len(_BITMAP_TEXT) < 4096:
            _BITMAP_TEXT[bitmap] = text
    return text


def bitmap_types(bitmap: bytes) -> list[int]:
    """The type numbers in an NSEC/NSEC3 type bitmap (RFC 4034 4.1.2)."""
    out: list[int] = []
    i = 0
    while i < len(bitmap):
        window, length = bitmap[i], bitmap[i + 1]
        block = bitmap[i + 2 : i + 2 + length]
        for byte_index, byte in enumerate(block):
            for bit in range(8):
                if byte & (0x80 >> bit):
                    out.append(window * 256 + byte_index * 8 + bit)
        i += 2 + length
    return out


_BITMAPS: dict[frozenset[int], bytes] = {}


def type_bitmap(types: list[int] | set[int] | frozenset[int]) -> bytes:
    """Encode type numbers as an NSEC/NSEC3 type bitmap (RFC 4034 4.1.2)."""
    key = frozenset(types)
    cached = _BITMAPS.get(key)
    if cached is None:
        cached = _type_bitmap(key)
        if len(_BITMAPS) < 4096:
            _BITMAPS[key] = cached
    return cached


def _type_bitmap(types: frozenset[int]) -> bytes:
    windows: dict[int, bytearray] = {}
    for t in sorted(types):
        window, low = divmod(t, 256)
        block = windows.setdefault(window, bytearray())
        index = low // 8
        if len(block) <= index:
            block.extend(b"\x00" * (index + 1 - len(block)))
        block[index] |= 0x80 >> (low % 8)
    return b"".join(bytes((w, len(b))) + bytes(b) for w, b in sorted(windows.items()))


_FORMATTERS: dict[int, Callable[[bytes], str]] = {
    RRType.NS: names.to_text_memo,
    RRType.CNAME: names.to_text_memo,
    RRType.A: functools.partial(socket.inet_ntop, socket.AF_INET),
    RRType.AAAA: functools.partial(socket.inet_ntop, socket.AF_INET6),
    RRType.DS: _ds_text,
    RRType.RRSIG: rrsig_to_text,
    RRType.NSEC3: nsec3_to_text,
}
