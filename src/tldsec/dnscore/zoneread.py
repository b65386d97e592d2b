"""The one reader of the master-file format (RFC 1035 5): zone text -> ``Zone``.

Signer, distribution and verifier all read zone files here. One ``str.split`` per
plain line, names and timestamps cached, RRSIG/NSEC3/DNSKEY RDATA built straight into
wire form (``rdatatext``); entries with parentheses, quoted strings or escapes are joined
by ``signedfile.Joiner`` and their RDATA goes through dnspython; the cyclic GC waits
(``bulk``). A line that cannot be read raises ``ZoneSyntaxError`` naming file and line.

What the file says that a ``Zone`` cannot hold (two TTLs in one RRset, RFC 2181 5.2; an
RRSIG whose TTL is not its RRset's, RFC 4034 3; an RRSIG covering nothing) is a
``Problem``, handed to the caller's ``on_problem``: ``zonefile.read_zone`` raises on it,
the verifier reports each one and reads on.
"""

from __future__ import annotations

import binascii
import io
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import IO

from tldsec.dnscore import names
from tldsec.dnscore.bulk import bulk_allocation
from tldsec.dnscore.rdatatext import RdataText, Reject, ttl_from_text
from tldsec.dnscore.signedfile import (
    Joiner,
    count_outside_quotes,
    strip_comment,
)
from tldsec.dnscore.types import RRType, type_text
from tldsec.dnscore.zone import RRset, Zone
from tldsec.errors import BadName, ZoneSyntaxError

_PLAIN_LABEL = re.compile(r"[A-Za-z0-9_-]+\Z")


class Kind(Enum):
    RRSET_TTL = "two TTLs in one RRset"  # RFC 2181 5.2
    RRSIG_TTL = "an RRSIG TTL that is not its RRset's"  # RFC 4034 3
    RRSIG_ORPHAN = "an RRSIG covering no RRset"


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the file says that a ``Zone`` cannot hold; the zone keeps the first
    TTL, and the RRSIG (attached, or left out when it covers nothing)."""

    kind: Kind
    line: int
    owner: bytes
    rtype: int  # the RRset's type; RRSIG for an RRSIG covering nothing
    reason: str  # without owner, type or line


@dataclass(slots=True)
class ReadResult:
    """A zone as read, and its problems (those ``on_problem`` was not given)."""

    zone: Zone
    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    # An owner's records came in more than one run of lines: the file is not grouped by
    # owner, so it cannot be split into parts at owner boundaries.
    regrouped: bool = False


OnProblem = Callable[[Problem], None]


def read_zone_file(path: Path, origin: str, on_problem: OnProblem | None = None) -> ReadResult:
    """Read a zone file; ``ZoneSyntaxError`` names the file, line and reason."""
    try:
        with open(path, encoding="utf-8", errors="strict") as f, bulk_allocation():
            return _Reader(origin, str(path), on_problem).read(f)
    except UnicodeDecodeError as exc:
        raise ZoneSyntaxError(str(path), None, f"not UTF-8 text: {exc}") from exc
    except OSError as exc:
        raise ZoneSyntaxError(str(path), None, f"cannot read: {exc.strerror}") from exc


def read_zone_string(
    text: str,
    origin: str,
    filename: str = "<text>",
    *,
    default_ttl: int | None = None,
    first_line: int = 1,
    on_problem: OnProblem | None = None,
) -> ReadResult:
    """Read zone text; a part of a bigger file gives its $TTL and first line number."""
    with bulk_allocation():
        reader = _Reader(origin, filename, on_problem)
        return reader.read(io.StringIO(text), default_ttl, first_line)


class _Reader(RdataText):
    def __init__(self, origin: str, filename: str, on_problem: OnProblem | None) -> None:
        super().__init__()
        self.filename = filename
        try:
            self.origin = names.to_wire(origin if origin.endswith(".") else origin + ".")
        except BadName as exc:
            raise ZoneSyntaxError(filename, None, f"bad origin {origin!r}: {exc}") from exc
        self.zone = Zone(origin=self.origin)
        self.result = ReadResult(self.zone)
        self.on_problem = on_problem or self.result.problems.append
        self.origin_suffix = "." + names.to_text(self.origin)
        # The longest label the owner fast path takes: 63 octets, and a name of 255.
        self.max_label = min(63, 254 - len(self.origin))

    # -- the main loop ----------------------------------------------------------------

    def read(self, f: IO[str], default_ttl: int | None = None, first_line: int = 1) -> ReadResult:
        zone = self.zone
        nodes = zone.nodes
        origin = self.origin
        current_origin = origin
        last_ttl: int | None = None
        owner_text = ""
        owner = b""
        node: list[RRset] = []
        last: RRset | None = None  # the RRset the previous record went into
        type_cache = self.type_cache
        name_cache = self.name_cache
        rdata_of = self._rdata
        rrsig_of = self._rrsig
        nsec3_of = self._nsec3
        suffix = self.origin_suffix
        cut = -len(suffix)
        max_label = self.max_label
        joiner = Joiner()
        # An RRSIG that does not follow the RRset it covers waits until every RRset is
        # read: a file may list them anywhere.
        pending: list[tuple[int, bytes, int, int, bytes]] = []
        count = 0
        line_no = 0
        try:
            for line_no, line in enumerate(f, first_line):
                if joiner.depth or '"' in line or "(" in line or ";" in line or "\\" in line:
                    # Comments, parentheses, quotes, escapes: the slow path.
                    entry = joiner.feed(line_no, line)
                    if entry is None:
                        continue
                    line_no, line = entry
                    plain = False
                else:
                    plain = True
                fields = line.split()
                if not fields:
                    continue
                first = line[0]
                if first == "$":
                    current_origin, default_ttl = self._directive(
                        fields, current_origin, default_ttl
                    )
                    owner_text = ""
                    continue
                if first == " " or first == "\t":
                    if not owner:
                        raise Reject("the first record has no owner name")
                    i = 0
                else:
                    text = fields[0]
                    if text != owner_text:
                        label = text[:cut]
                        if (
                            current_origin is origin
                            and text.endswith(suffix)
                            and 0 < len(label) <= max_label
                            and "." not in label
                            and label.isascii()
                            and (plain or "\\" not in label)
                        ):
                            # One label under the origin: a TLD's delegations and NSEC3s.
                            owner = bytes((len(label),)) + label.lower().encode() + origin
                        else:
                            owner = self._owner(text, current_origin)
                        owner_text = text
                        node = nodes.get(owner) or []
                        if node and last is not None and last.owner != owner:
                            self.result.regrouped = True
                    i = 1
                # Fast path: OWNER TTL IN TYPE, the layout every zone writer uses.
                n = len(fields) - i
                if n > 3 and fields[i + 1] == "IN" and fields[i].isdigit():
                    ttl = int(fields[i])
                    if ttl > 0x7FFFFFFF:
                        raise Reject(f"TTL {ttl} exceeds 2^31-1 (RFC 2181 8)")
                    tok = fields[i + 2]
                    cached = type_cache.get(tok)
                    rtype = cached if cached is not None else self._type(tok)
                    i += 3
                    n -= 3
                else:
                    ttl, rtype, i = self._ttl_class_type(fields, i, default_ttl, last_ttl)
                    n = len(fields) - i
                last_ttl = ttl
                count += 1
                if rtype == 46 and plain and n >= 9:
                    # RRSIG (RFC 4034 3.2): type alg labels ttl expiration inception tag
                    # signer signature.
                    try:
                        wire = rrsig_of(fields, i, current_origin)
                    except (ValueError, struct.error, binascii.Error) as exc:
                        raise Reject(f"bad RRSIG RDATA: {exc}") from None
                    covered = (wire[0] << 8) | wire[1]
                    if (
                        last is not None
                        and last.rtype == covered
                        and last.owner is owner
                        and last.ttl == ttl
                    ):
                        if wire not in last.sigs:
                            last.sigs += (wire,)
                    else:
                        pending.append((line_no, owner, ttl, covered, wire))
                    continue
                if rtype == 50 and plain and n >= 5:
                    # NSEC3 (RFC 5155 3.3): alg flags iterations salt next-hash types.
                    try:
                        wire = nsec3_of(fields, i)
                    except (ValueError, struct.error) as exc:
                        raise Reject(f"bad NSEC3 RDATA: {exc}") from None
                elif rtype == 2 and n == 1 and plain:
                    target = fields[i]
                    wire = name_cache.get(target) or self._name(target, current_origin)
                else:
                    wire = rdata_of(rtype, fields, i, line, plain, current_origin)
                for rrset in node:
                    if rrset.rtype == rtype:
                        if rrset.ttl != ttl:
                            self.on_problem(
                                Problem(
                                    Kind.RRSET_TTL,
                                    line_no,
                                    owner,
                                    rtype,
                                    f"TTL {ttl} differs from {rrset.ttl} "
                                    "earlier in the same RRset (RFC 2181 5.2)",
                                )
                            )
                        rrset.rdatas.append(wire)
                        last = rrset
                        break
                else:
                    last = RRset(owner, rtype, ttl, [wire])
                    if not node:
                        nodes[owner] = node
                    node.append(last)
            joiner.finish()
        except Reject as exc:
            raise ZoneSyntaxError(self.filename, line_no, str(exc)) from None
        except ZoneSyntaxError as exc:
            raise ZoneSyntaxError(self.filename, exc.line or line_no, exc.reason) from None
        for rrset in zone.rrsets():
            if len(rrset.rdatas) > 1:
                # Canonical RR order within an RRset, duplicates dropped (RFC 4034 6.3).
                rrset.rdatas = sorted(set(rrset.rdatas))
        self._attach(pending)
        self.result.records = count
        return self.result

    def _directive(
        self, fields: list[str], current_origin: bytes, default_ttl: int | None
    ) -> tuple[bytes, int | None]:
        directive = fields[0].upper()
        if directive == "$ORIGIN" and len(fields) == 2:
            origin = self._name(fields[1], current_origin)
            self.name_cache.clear()
            # The zone's own origin object: owner names take the fast path again.
            return (self.origin if origin == self.origin else origin), default_ttl
        if directive == "$TTL" and len(fields) == 2:
            return current_origin, ttl_from_text(fields[1])
        if directive == "$INCLUDE":
            raise Reject("the $INCLUDE directive is not accepted: give one self-contained file")
        raise Reject(f"unsupported or malformed directive {' '.join(fields)!r}")

    def _ttl_class_type(
        self, fields: list[str], i: int, default_ttl: int | None, last_ttl: int | None
    ) -> tuple[int, int, int]:
        """[TTL] [CLASS] TYPE, TTL and class in either order (RFC 1035 5.1)."""
        ttl: int | None = None
        while True:
            if i >= len(fields):
                raise Reject("no record type")
            tok = fields[i]
            i += 1
            if tok.upper() == "IN":
                continue
            if tok[0].isdigit():
                if ttl is not None:
                    raise Reject(f"unexpected {tok!r} where a type was expected")
                ttl = ttl_from_text(tok)
                continue
            cached = self.type_cache.get(tok)
            rtype = cached if cached is not None else self._type(tok)
            break
        if ttl is None:
            ttl = default_ttl if default_ttl is not None else last_ttl
            if ttl is None:
                raise Reject("no TTL: give one on the record or with $TTL")
        return ttl, rtype, i

    def _owner(self, text: str, current_origin: bytes) -> bytes:
        """An owner name, which must be at or below the zone's origin."""
        suffix = self.origin_suffix
        if current_origin is self.origin and text.endswith(suffix):
            # Fast path: one plain label under the origin (a TLD's delegations and the
            # NSEC3 owners).
            label = text[: -len(suffix)]
            if 0 < len(label) <= self.max_label and _PLAIN_LABEL.match(label):
                return bytes((len(label),)) + label.lower().encode("ascii") + self.origin
        owner = self._name(text, current_origin)
        if not names.is_subdomain(owner, self.origin):
            raise Reject(f"{names.to_text(owner)} is outside the zone {names.to_text(self.origin)}")
        return owner

    def _attach(self, pending: list[tuple[int, bytes, int, int, bytes]]) -> None:
        nodes = self.zone.nodes
        for line_no, owner, ttl, covered, wire in pending:
            target = None
            for rrset in nodes.get(owner, ()):
                if rrset.rtype == covered:
                    target = rrset
                    break
            if target is None:
                reason = f"RRSIG covers {type_text(covered)}, which is not at this name"
                self.on_problem(Problem(Kind.RRSIG_ORPHAN, line_no, owner, RRType.RRSIG, reason))
                continue
            if ttl != target.ttl:
                # RFC 4034 3: the RRSIG TTL equals the TTL of the RRset it covers.
                reason = (
                    f"RRSIG TTL {ttl} differs from the RRset TTL {target.ttl} "
                    "(RFC 4034 3; DPS 6.7: an RRSIG inherits the TTL of its RRset)"
                )
                self.on_problem(Problem(Kind.RRSIG_TTL, line_no, owner, covered, reason))
            if wire not in target.sigs:
                target.sigs += (wire,)


def read_soa_serial(path: Path, origin: str) -> int:
    """The SOA serial of a zone file, reading only as far as its SOA record.

    A zone file starts with its SOA (RFC 1035 5.2, and every zone writer); the previous
    signed zone is not read in full just for its serial.
    """
    head: list[str] = []
    depth = 0
    found = False
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                head.append(line)
                text = strip_comment(line)
                if not found and "SOA" in text.upper().split():
                    found = True
                depth += count_outside_quotes(text)
                if found and depth <= 0:
                    break
    except (OSError, UnicodeDecodeError) as exc:
        raise ZoneSyntaxError(str(path), None, f"cannot read: {exc}") from exc
    result = read_zone_string("".join(head), origin, str(path))
    soa = result.zone.get(result.zone.origin, RRType.SOA)
    if soa is None or len(soa.rdatas) != 1:
        raise ZoneSyntaxError(str(path), None, f"no SOA record for {origin} at the top")
    return int.from_bytes(soa.rdatas[0][-20:-16], "big")
