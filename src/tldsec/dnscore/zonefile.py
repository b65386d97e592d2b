"""Zone files (RFC 1035 5) in and out, fast.

``read_zone`` parses the master-file format into a ``Zone``: $ORIGIN, $TTL, relative
names, "@", omitted owner/TTL/class, parentheses, comments and quoted strings. Plain
lines (what a registry's zone builder writes) take a fast path of ``str.split``; lines
with quotes, parentheses or escapes take dnspython's tokenizer. RRSIGs in the input are
attached to the RRset they cover. Every error names the file and line.

``write_zone`` writes canonical order (RFC 4034 6.1), SOA first, each RRset followed by
its RRSIGs, one record per line with absolute names; ``write_zone_atomic`` replaces the
output file only once it is complete.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator, MutableSequence
from pathlib import Path
from typing import IO

import dns.exception
import dns.rdatatype
import dns.ttl

from tldsec.atomicfile import replacing
from tldsec.dnscore import names, rdata
from tldsec.dnscore.bulk import bulk_allocation
from tldsec.dnscore.signedfile import header_text, logical_lines, record_head, strip_comment
from tldsec.dnscore.types import RRType, type_text
from tldsec.dnscore.zone import RRset, Zone
from tldsec.errors import BadName, BadRdata, ZoneSyntaxError

_PLAIN_LABEL_TEXT = re.compile(r"[A-Za-z0-9_*-]{1,63}\Z")
_CLASSES = {"IN": 1}
_OTHER_CLASSES = frozenset({"CH", "HS", "CS", "NONE", "ANY"})


def read_zone(path: Path, origin: str) -> Zone:
    """Parse a zone file; ``ZoneSyntaxError`` names the file, line and reason."""
    try:
        with open(path, encoding="utf-8") as f, bulk_allocation():
            return _parse(f, origin, str(path))
    except UnicodeDecodeError as exc:
        raise ZoneSyntaxError(str(path), None, f"not UTF-8 text: {exc}") from exc
    except OSError as exc:
        raise ZoneSyntaxError(str(path), None, f"cannot read: {exc.strerror}") from exc


def read_zone_text(text: str, origin: str, filename: str = "<text>") -> Zone:
    with bulk_allocation():
        return _parse(io.StringIO(text), origin, filename)


def _type_number(token: str) -> int | None:
    try:
        return rdata.type_from_text(token.upper())
    except (dns.exception.DNSException, ValueError):
        return None


def _parse(f: IO[str], origin_text: str, filename: str) -> Zone:
    try:
        origin = names.to_wire(origin_text if origin_text.endswith(".") else origin_text + ".")
    except BadName as exc:
        raise ZoneSyntaxError(filename, None, f"bad origin {origin_text!r}: {exc}") from exc
    zone = Zone(origin=origin)
    nodes = zone.nodes
    current_origin = origin
    default_ttl: int | None = None
    last_ttl: int | None = None
    last_owner: bytes | None = None
    ttl_cache: dict[str, int] = {}
    type_cache: dict[str, int] = {}
    sigs: list[tuple[int, bytes, int, bytes]] = []  # line, owner, covered, RRSIG RDATA
    line_no = 0
    # Plain ints and functions in locals: an IntEnum member or a module attribute costs
    # a lookup per line, and a zone has millions of lines.
    ns_type = int(RRType.NS)
    rrsig_type = int(RRType.RRSIG)
    nsec3param_type = int(RRType.NSEC3PARAM)
    rdata_from_text = rdata.from_text
    name_to_wire = names.to_wire_memo

    def fail(reason: str) -> ZoneSyntaxError:
        return ZoneSyntaxError(filename, line_no, reason)

    def parse_ttl(token: str) -> int:
        try:
            value = int(token) if token.isdigit() else int(dns.ttl.from_text(token))
        except (dns.exception.DNSException, ValueError) as exc:
            raise fail(f"bad TTL {token!r}") from exc
        if value > 0x7FFFFFFF:
            raise fail(f"TTL {value} exceeds 2^31-1 (RFC 2181 8)")
        ttl_cache[token] = value
        return value

    def parse_type(token: str) -> int:
        value = _type_number(token)
        if value is None:
            raise fail(f"unknown record type {token!r}")
        type_cache[token] = value
        return value

    # The owner fast path: a one-label name written absolute under the origin
    # ("label.example."), the form zone builders write; anything else takes parse_owner.
    origin_suffix = "." + names.to_text(origin) if origin != names.ROOT else "."
    suffix_len = len(origin_suffix)
    plain_label = _PLAIN_LABEL_TEXT.match
    last_owner_text = ""

    def parse_owner(text: str) -> bytes:
        owner = _name(text, current_origin, fail)
        if not names.is_subdomain(owner, origin):
            raise fail(f"{names.to_text(owner)} is outside the zone {names.to_text(origin)}")
        return owner

    try:
        for line_no, line, special in logical_lines(f):
            if special and '"' not in line and "\\" not in line:
                line = strip_comment(line)
            fields = line.split()
            if not fields:
                continue
            first = fields[0]
            if (
                len(fields) >= 5
                and fields[2] == "IN"
                and not special
                and line[0] not in " \t$"
                and fields[1].isdigit()
            ):
                # The fast path: "owner TTL IN TYPE RDATA", as zone builders write it.
                if first == last_owner_text and last_owner is not None:
                    owner = last_owner
                elif first.endswith(origin_suffix) and plain_label(
                    first, 0, len(first) - suffix_len
                ):
                    owner = names.one_label_wire(first[:-suffix_len], origin)
                else:
                    owner = parse_owner(first)
                last_owner_text = first
                ttl = ttl_cache.get(fields[1])
                if ttl is None:
                    ttl = parse_ttl(fields[1])
                rtype = type_cache.get(fields[3])
                if rtype is None:
                    rtype = parse_type(fields[3])
                rdata_fields = fields[4:]
            else:
                if first.startswith("$"):
                    directive = first.upper()
                    if directive == "$ORIGIN" and len(fields) == 2:
                        current_origin = _name(fields[1], current_origin, fail)
                        last_owner_text = ""
                    elif directive == "$TTL" and len(fields) == 2:
                        default_ttl = parse_ttl(fields[1])
                    elif directive == "$INCLUDE":
                        raise fail(
                            "$INCLUDE is not accepted: give the signer one self-contained file"
                        )
                    else:
                        raise fail(f"unknown or malformed directive {line.strip()!r}")
                    continue
                last_owner_text = ""
                owner, ttl, rtype, rdata_fields = _general_line(
                    line,
                    fields,
                    last_owner,
                    parse_owner,
                    parse_ttl,
                    fail,
                )
                if ttl is None:
                    ttl = default_ttl if default_ttl is not None else last_ttl
                    if ttl is None:
                        raise fail("no TTL: give one on the record or with $TTL")
            if not rdata_fields and rtype != nsec3param_type:
                raise fail(f"{type_text(rtype)} record without RDATA")
            try:
                if rtype == ns_type and len(rdata_fields) == 1 and not special:
                    wire = name_to_wire(rdata_fields[0], current_origin)
                elif special and ('"' in line or "\\" in line):
                    wire = rdata.from_text_generic(rtype, " ".join(rdata_fields), current_origin)
                else:
                    wire = rdata_from_text(rtype, rdata_fields, current_origin)
            except (BadRdata, BadName) as exc:
                raise fail(str(exc)) from exc
            last_owner = owner
            last_ttl = ttl
            if rtype == rrsig_type:
                sigs.append((line_no, owner, int.from_bytes(wire[:2], "big"), wire))
                continue
            node = nodes.get(owner)
            if node is None:
                nodes[owner] = [RRset(owner, rtype, ttl, [wire])]
                continue
            for rrset in node:
                if rrset.rtype == rtype:
                    if rrset.ttl != ttl:
                        raise fail(
                            f"{names.to_text(owner)} {type_text(rtype)}: TTL "
                            f"{ttl} differs from {rrset.ttl} earlier in the same RRset "
                            "(RFC 2181 5.2)"
                        )
                    rrset.rdatas.append(wire)
                    break
            else:
                node.append(RRset(owner, rtype, ttl, [wire]))
    except ZoneSyntaxError as exc:
        if not exc.filename:
            raise ZoneSyntaxError(filename, exc.line, exc.reason) from exc
        raise
    for node in nodes.values():
        for rrset in node:
            if len(rrset.rdatas) > 1:
                # Canonical RR order in an RRset, duplicates removed (RFC 4034 6.3, 2181 5).
                rrset.rdatas = sorted(set(rrset.rdatas))
    for line_no, owner, covered, wire in sigs:
        target = zone.get(owner, covered)
        if target is None:
            raise ZoneSyntaxError(
                filename,
                line_no,
                f"RRSIG at {names.to_text(owner)} covers {type_text(covered)}, which is not there",
            )
        target.sigs += (wire,)
    return zone


def _general_line(
    line: str,
    fields: list[str],
    last_owner: bytes | None,
    parse_owner: Callable[[str], bytes],
    parse_ttl: Callable[[str], int],
    fail: Callable[[str], ZoneSyntaxError],
) -> tuple[bytes, int | None, int, list[str]]:
    """Owner, TTL (None if omitted), type and RDATA fields of any record line."""
    # Owner: omitted when the line starts with a blank (RFC 1035 5.1).
    if line[0] in " \t":
        if last_owner is None:
            raise fail("the first record has no owner name")
        owner = last_owner
        i = 0
    else:
        owner = parse_owner(fields[0])
        i = 1
    # [TTL] [CLASS] TYPE, TTL and class in either order.
    ttl: int | None = None
    while i < len(fields):
        tok = fields[i]
        up = tok.upper()
        if up in _CLASSES:
            i += 1
            continue
        if up in _OTHER_CLASSES or (up.startswith("CLASS") and up[5:].isdigit()):
            raise fail(f"class {tok} is not IN: a TLD zone is class IN")
        if tok[0].isdigit():
            if ttl is not None:
                raise fail(f"unexpected {tok!r} where a type was expected")
            ttl = parse_ttl(tok)
            i += 1
            continue
        rtype = _type_number(tok)
        if rtype is None:
            raise fail(f"unknown record type {tok!r}")
        return owner, ttl, rtype, fields[i + 1 :]
    raise fail("no record type")


def _name(text: str, origin: bytes, fail: Callable[[str], ZoneSyntaxError]) -> bytes:
    try:
        return names.to_wire(text, origin)
    except BadName as exc:
        raise fail(str(exc)) from exc


# --- writing --------------------------------------------------------------------------


def zone_lines(
    zone: Zone,
    owners: Iterable[bytes] | None = None,
    block_sizes: MutableSequence[int] | None = None,
) -> Iterator[str]:
    """Zone-file text in canonical order, SOA first at the apex, in chunks of lines.

    ``block_sizes``, when given, receives the length of each owner's block of lines, in
    order (characters; the same as bytes for the ASCII text the writer produces).
    """
    formatter = rdata.formatter
    rrsig_text = rdata.rrsig_to_text
    owner_to_text = names.text_under(zone.origin)
    nodes = zone.nodes
    # "\tTTL\tIN\tTYPE\t" and the RDATA formatter, per (TTL, type): a zone has few.
    heads: dict[tuple[int, int], tuple[str, str, Callable[[bytes], str]]] = {}
    parts: list[str] = []
    append = parts.append
    for owner in owners if owners is not None else zone.canonical_owners():
        mark = len(parts)
        owner_text = owner_to_text(owner)
        node = nodes[owner]
        if len(node) > 1:
            node = sorted(node, key=_type_order)
        for rrset in node:
            key = (rrset.ttl, rrset.rtype)
            cached = heads.get(key)
            if cached is None:
                ttl, rtype = key
                cached = heads[key] = (
                    record_head(ttl, type_text(rtype)),
                    record_head(ttl, "RRSIG"),
                    formatter(rtype),
                )
            head, sig_head, fmt = cached
            head = owner_text + head
            for rd in rrset.rdatas:
                append(head + fmt(rd) + "\n")
            if rrset.sigs:
                sig_head = owner_text + sig_head
                for sig in rrset.sigs:
                    append(sig_head + rrsig_text(sig) + "\n")
        if block_sizes is not None:
            block_sizes.append(sum(map(len, parts[mark:])))
        if len(parts) >= 4096:
            yield "".join(parts)
            parts.clear()
    yield "".join(parts)


def _type_order(rrset: RRset) -> int:
    return -1 if rrset.rtype == RRType.SOA else rrset.rtype


def write_zone(
    zone: Zone,
    out: IO[str],
    header: str | None = None,
    block_sizes: MutableSequence[int] | None = None,
) -> int:
    """Write the zone; the length of the comment header written before the records."""
    head = header_text(header)
    out.write(head)
    for chunk in zone_lines(zone, block_sizes=block_sizes):
        out.write(chunk)
    return len(head.encode("utf-8"))


def write_zone_atomic(
    zone: Zone,
    path: Path,
    header: str | None = None,
    block_sizes: MutableSequence[int] | None = None,
) -> int:
    """Write to a temporary file beside ``path``, fsync, then rename over it: a reader
    sees the old file or the complete new one, never a partial one. Returns the header's
    length; ``block_sizes`` as for ``zone_lines``."""
    with replacing(Path(path), "w", encoding="utf-8", permissions=0o644) as out:
        return write_zone(zone, out, header, block_sizes)
