"""Domain names as wire bytes: text <-> wire, canonical ordering keys, label counts.

Names are kept as uncompressed wire form in canonical case (RFC 4034 6.2: ASCII letters
lowercased). The fast paths handle the plain names a TLD zone is made of; anything with
escapes or odd characters goes through dnspython, which is the reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import dns.exception
import dns.name

from tldsec.errors import BadName

ROOT = b"\x00"
_PLAIN_LABEL = re.compile(rb"[a-z0-9_*-]+\Z")  # printable as is, no escaping needed
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_*.-]+\Z")


def to_wire(text: str, origin: bytes = ROOT) -> bytes:
    """Canonical (lowercase) wire form of a presentation-format name.

    A relative name is made absolute with ``origin`` (wire form); "@" is the origin.
    """
    if text == "@":
        return origin
    if _PLAIN_TEXT.match(text):
        absolute = text.endswith(".")
        body = text[:-1] if absolute else text
        if text == ".":
            return ROOT
        parts = body.lower().encode("ascii").split(b".")
        out = bytearray()
        for label in parts:
            n = len(label)
            if n == 0:
                raise BadName(f"empty label in {text!r}")
            if n > 63:
                raise BadName(f"label longer than 63 octets in {text!r}")
            out.append(n)
            out += label
        wire = bytes(out) + (ROOT if absolute else origin)
        if len(wire) > 255:
            raise BadName(f"name longer than 255 octets: {text!r}")
        return wire
    return _to_wire_slow(text, origin)


def _to_wire_slow(text: str, origin: bytes) -> bytes:
    try:
        name = dns.name.from_text(text, origin=dns.name.from_wire(origin, 0)[0])
        wire = name.canonicalize().to_wire()
    except dns.exception.DNSException as exc:
        raise BadName(f"bad name {text!r}: {exc}") from exc
    assert wire is not None
    return wire


# Memo tables for names that repeat (name-server targets, the signer's name). They hold
# results of pure functions, bounded in size: no behaviour depends on them.
_MEMO_LIMIT = 262_144
_WIRE_MEMO: dict[tuple[str, bytes], bytes] = {}
_TEXT_MEMO: dict[bytes, str] = {}


def to_wire_memo(text: str, origin: bytes = ROOT) -> bytes:
    """``to_wire`` for names likely to repeat, such as RDATA targets."""
    key = (text, origin)
    wire = _WIRE_MEMO.get(key)
    if wire is None:
        wire = to_wire(text, origin)
        if len(_WIRE_MEMO) < _MEMO_LIMIT:
            _WIRE_MEMO[key] = wire
    return wire


def to_text_memo(wire: bytes) -> str:
    """``to_text`` for names likely to repeat."""
    text = _TEXT_MEMO.get(wire)
    if text is None:
        text = to_text(wire)
        if len(_TEXT_MEMO) < _MEMO_LIMIT:
            _TEXT_MEMO[wire] = text
    return text


def labels(wire: bytes) -> list[bytes]:
    """The labels of a wire name, leftmost first, without the root label."""
    out: list[bytes] = []
    i = 0
    while True:
        n = wire[i]
        if n == 0:
            return out
        out.append(wire[i + 1 : i + 1 + n])
        i += 1 + n


def label_count(wire: bytes) -> int:
    """RRSIG Labels field: labels in the owner, not counting root or a leading "*"
    (RFC 4034 3.1.3)."""
    count = 0
    i = 0
    while wire[i]:
        count += 1
        i += 1 + wire[i]
    if wire[:2] == b"\x01*":
        count -= 1
    return count


def parent(wire: bytes) -> bytes:
    """The name with its leftmost label removed."""
    return wire[1 + wire[0] :]


def is_subdomain(wire: bytes, of: bytes) -> bool:
    """True if ``wire`` equals ``of`` or lies below it (both canonical wire names)."""
    if not wire.endswith(of):
        return False
    if len(wire) == len(of):
        return True
    # The suffix must start on a label boundary.
    i = 0
    cut = len(wire) - len(of)
    while i < cut:
        i += 1 + wire[i]
    return i == cut


def canonical_key(wire: bytes) -> bytes:
    """A bytes key whose plain ordering is the canonical DNS name order (RFC 4034 6.1).

    Labels are taken from the root down and joined by 0x00; octets 0x00 and 0x01 inside a
    label are escaped (0x01 0x01, 0x01 0x02) so the separator sorts below any label octet.
    """
    parts = labels(wire)
    parts.reverse()
    if b"\x00" in wire[1:-1] or b"\x01" in wire:
        parts = [p.replace(b"\x01", b"\x01\x02").replace(b"\x00", b"\x01\x01") for p in parts]
    return b"\x00".join(parts)


def canonical_key_under(origin: bytes) -> Callable[[bytes], bytes]:
    """``canonical_key``, faster for the names a zone is mostly made of: one label
    directly under ``origin``. Returns the same keys for every name."""
    prefix = canonical_key(origin) + (b"\x00" if origin != ROOT else b"")
    size = len(origin)

    def key(wire: bytes) -> bytes:
        n = wire[0]
        if n + 1 + size == len(wire) and wire.endswith(origin):
            label = wire[1 : n + 1]
            if b"\x00" not in label and b"\x01" not in label:
                return prefix + label
        return canonical_key(wire)

    return key


def text_under(origin: bytes) -> Callable[[bytes], str]:
    """``to_text``, faster for names of one plain label directly under ``origin``."""
    suffix = "." + to_text(origin) if origin != ROOT else "."
    size = len(origin)
    plain = _PLAIN_LABEL.match

    def text(wire: bytes) -> str:
        n = wire[0]
        if n + 1 + size == len(wire) and wire.endswith(origin) and plain(wire, 1, n + 1):
            return wire[1 : n + 1].decode("ascii") + suffix
        return to_text(wire)

    return text


def to_text(wire: bytes) -> str:
    """Presentation form of a wire name, absolute (with the trailing dot)."""
    if wire == ROOT:
        return "."
    out = []
    for label in labels(wire):
        if _PLAIN_LABEL.match(label):
            out.append(label.decode("ascii"))
        else:
            out.append(_escape_label(label))
    return ".".join(out) + "."


def _escape_label(label: bytes) -> str:
    # RFC 4343 2.1 / RFC 1035 5.1 escaping. A space is \032, not "\ ": a zone file's
    # fields split at white space, and so do the readers of tldsec's own files.
    chars = []
    for b in label:
        if b in b'."\\()@;$':
            chars.append("\\" + chr(b))
        elif 0x21 <= b <= 0x7E:
            chars.append(chr(b))
        else:
            chars.append(f"\\{b:03d}")
    return "".join(chars)


def one_label_wire(label: str, origin: bytes) -> bytes:
    """Wire form of ``label`` + ``origin`` for a label already known to be plain
    (letters, digits, "-", "_", "*"; 1 to 63 characters): the zone reader's fast path."""
    wire = bytes((len(label),)) + label.lower().encode("ascii") + origin
    if len(wire) > 255:
        raise BadName(f"name longer than 255 octets: {label}.{to_text(origin)}")
    return wire
