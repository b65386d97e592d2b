"""Zone files (RFC 1035 5) in and out.

``read_zone`` reads the master-file format into a ``Zone`` with the one reader,
``zoneread``, strictly: its first problem (two TTLs in one RRset, RFC 2181 5.2; an RRSIG
covering nothing) raises ``ZoneSyntaxError`` naming the file and line, like any syntax
error. An RRSIG whose TTL is not its RRset's is taken: the signer writes its own.

``write_zone`` writes canonical order (RFC 4034 6.1), SOA first, each RRset followed by
its RRSIGs, one record per line with absolute names; ``write_zone_atomic`` replaces the
output file only once it is complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableSequence
from pathlib import Path
from typing import IO

from tldsec.atomicfile import replacing
from tldsec.dnscore import names, rdata
from tldsec.dnscore.signedfile import header_text, record_head
from tldsec.dnscore.types import RRType, type_text
from tldsec.dnscore.zone import RRset, Zone
from tldsec.dnscore.zoneread import Kind, Problem, read_zone_file, read_zone_string
from tldsec.errors import ZoneSyntaxError


def read_zone(path: Path, origin: str) -> Zone:
    """Parse a zone file; ``ZoneSyntaxError`` names the file, line and reason."""
    return read_zone_file(path, origin, _strict(str(path))).zone


def read_zone_text(text: str, origin: str, filename: str = "<text>") -> Zone:
    return read_zone_string(text, origin, filename, on_problem=_strict(filename)).zone


def _strict(filename: str) -> Callable[[Problem], None]:
    def raise_it(problem: Problem) -> None:
        if problem.kind is not Kind.RRSIG_TTL:
            where = f"{names.to_text(problem.owner)} {type_text(problem.rtype)}"
            raise ZoneSyntaxError(filename, problem.line, f"{where}: {problem.reason}")

    return raise_it


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
