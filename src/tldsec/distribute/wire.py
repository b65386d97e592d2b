"""DNS messages of a zone transfer, built from wire RRs, each signed with TSIG.

A transfer is a sequence of messages (RFC 5936 2.2): each repeats the query's ID, the
first carries the question, every one is filled with whole RRs up to ``max_size``. When
the query was signed, every message is signed too (RFC 8945 5.3.1): the first with the
request's MAC, each following one chained to the MAC before it. dnspython's ``dns.tsig``
computes the MACs; the messages themselves are assembled here from bytes, because a
transfer of a large zone must not build a Python object per record.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.tsig

_HEADER = struct.Struct("!HHHHHH")
QR, AA = 0x8000, 0x0400
MAX_MESSAGE = 65535
DEFAULT_FUDGE = 300  # RFC 8945 5.2.3: 300 seconds recommended

# dnspython's TSIG RDATA class and signing function carry no type annotations.
_TsigRdata: Callable[..., dns.rdtypes.ANY.TSIG.TSIG] = dns.rdtypes.ANY.TSIG.TSIG
_tsig_sign: Callable[..., tuple[dns.rdtypes.ANY.TSIG.TSIG, Any]] = dns.tsig.sign


def header(msg_id: int, flags: int, qd: int, an: int, ns: int = 0, ar: int = 0) -> bytes:
    return _HEADER.pack(msg_id, flags, qd, an, ns, ar)


def tsig_rr(keyname: dns.name.Name, rdata: dns.rdtypes.ANY.TSIG.TSIG) -> bytes:
    """The TSIG RR: owner the key name, class ANY, TTL 0 (RFC 8945 4.2)."""
    body = rdata.to_wire()
    assert body is not None
    wire = keyname.to_wire()
    assert wire is not None
    return wire + struct.pack("!HHIH", dns.rdatatype.TSIG, dns.rdataclass.ANY, 0, len(body)) + body


def add_unsigned_tsig(
    message: bytes, keyname: dns.name.Name, algorithm: dns.name.Name, now: int, error: int
) -> bytes:
    """Append a TSIG RR with an empty MAC and ``error`` (BADKEY, BADSIG: RFC 8945 5.3.2)."""
    msg_id = int.from_bytes(message[:2], "big")
    rdata = _TsigRdata(
        dns.rdataclass.ANY,
        dns.rdatatype.TSIG,
        algorithm,
        now,
        DEFAULT_FUDGE,
        b"",
        msg_id,
        error,
        b"",
    )
    return _bump_arcount(message) + tsig_rr(keyname, rdata)


def add_badtime_tsig(
    message: bytes,
    key: dns.tsig.Key,
    request_mac: bytes,
    time_signed: int,
    original_id: int,
    now: int,
) -> bytes:
    """Append a *signed* TSIG RR with error BADTIME (RFC 8945 5.2.3, 5.3.2): the request's
    MAC was valid, so the client can check this answer. Time Signed is the request's, and
    Other Data carries the server's time (48 bits), so the client learns the skew."""
    template = _TsigRdata(
        dns.rdataclass.ANY,
        dns.rdatatype.TSIG,
        key.algorithm,
        time_signed,
        DEFAULT_FUDGE,
        b"",
        original_id,
        dns.rcode.BADTIME,
        struct.pack("!HI", (now >> 32) & 0xFFFF, now & 0xFFFFFFFF),
    )
    rdata, _ = _tsig_sign(message, key, template, time_signed, request_mac, None, False)
    return _bump_arcount(message) + tsig_rr(key.name, rdata)


def _bump_arcount(message: bytes) -> bytes:
    count = int.from_bytes(message[10:12], "big") + 1
    return message[:10] + count.to_bytes(2, "big") + message[12:]


class TsigSigner:
    """Signs the messages of one response in sequence (RFC 8945 5.3.1)."""

    def __init__(self, key: dns.tsig.Key, request_mac: bytes, original_id: int, now: int) -> None:
        self.key = key
        self._request_mac = request_mac
        self._original_id = original_id
        self._now = now
        self._ctx: Any = None
        self.reserve = len(
            self._template(b"\x00" * dns.tsig.mac_sizes[key.algorithm]).to_wire() or b""
        )
        self.reserve += len(key.name.to_wire() or b"") + 10

    def _template(self, mac: bytes) -> dns.rdtypes.ANY.TSIG.TSIG:
        return _TsigRdata(
            dns.rdataclass.ANY,
            dns.rdatatype.TSIG,
            self.key.algorithm,
            self._now,
            DEFAULT_FUDGE,
            mac,
            self._original_id,
            0,
            b"",
        )

    def sign(self, message: bytes) -> bytes:
        """``message`` (complete, without TSIG) with its TSIG RR appended."""
        rdata, self._ctx = _tsig_sign(
            message,
            self.key,
            self._template(b""),
            self._now,
            self._request_mac,
            self._ctx,
            True,
        )
        return _bump_arcount(message) + tsig_rr(self.key.name, rdata)


def transfer_messages(
    msg_id: int,
    question: bytes,
    records: Iterable[bytes],
    *,
    flags: int = QR | AA,
    signer: TsigSigner | None = None,
    max_size: int = MAX_MESSAGE,
) -> Iterator[bytes]:
    """The response messages carrying ``records`` in order; the question in the first."""
    limit = max_size - 12 - (signer.reserve if signer else 0)
    parts: list[bytes] = []
    size = len(question)
    first = True
    for rr in records:
        if len(rr) + len(question) > limit:
            raise ValueError("a record does not fit in one message")
        if parts and size + len(rr) > limit:
            yield _finish(msg_id, flags, first, question, parts, signer)
            first = False
            parts = []
            size = 0
        parts.append(rr)
        size += len(rr)
    if parts or first:
        yield _finish(msg_id, flags, first, question, parts, signer)


def _finish(
    msg_id: int,
    flags: int,
    first: bool,
    question: bytes,
    parts: list[bytes],
    signer: TsigSigner | None,
) -> bytes:
    qd = 1 if first else 0
    message = header(msg_id, flags, qd, len(parts)) + (question if first else b"") + b"".join(parts)
    return signer.sign(message) if signer else message
