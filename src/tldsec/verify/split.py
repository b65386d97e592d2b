"""Where to cut a zone file into parts that can be checked apart (``sharded``).

Cuts fall on the first line of an owner one label below the apex, so every part holds
whole subtrees. A file is only cut when that is safe to do from the bytes alone: no
entry over several lines (parentheses), no quoted strings or escapes, no directive after
the header, and the apex first. Anything else returns None: the zone is read whole.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

from tldsec.dnscore.signedfile import (
    OWNER_WRITTEN,
    header_directives,
    is_top_level,
    skip_header,
    zone_suffix,
)

PART_BYTES = 4 << 20  # a part of about 30,000 lines
HEAD_BYTES = 1 << 20  # a longer header: read whole


@dataclass(frozen=True, slots=True)
class Part:
    index: int
    start: int  # byte offsets in the file
    end: int
    first_line: int


@dataclass(frozen=True, slots=True)
class Plan:
    path: Path
    parts: tuple[Part, ...]
    default_ttl: int | None
    apex_end: int  # the apex's records are the bytes before this offset
    size: int


def plan_parts(path: Path, origin: str, part_bytes: int = PART_BYTES) -> Plan | None:
    """Where to cut the file, or None if it cannot be cut safely."""
    size = path.stat().st_size
    if size == 0:
        return None
    suffix = zone_suffix(origin)
    origin_b = origin.lower().encode()
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        # Entries over several lines, quoted strings and escapes: read whole instead.
        if mm.find(b"(") >= 0 or mm.find(b'"') >= 0 or mm.find(b"\\") >= 0:
            return None
        head = b"\n" + mm[:HEAD_BYTES]  # as ``chunks`` gives it: after a newline
        pos = skip_header(head)
        if pos is None:
            return None
        default_ttl: int | None = None
        for fields in header_directives(head, pos):  # $ORIGIN (this zone's), $TTL
            if fields[0] == b"$TTL" and len(fields) == 2 and fields[1].isdigit():
                default_ttl = int(fields[1])
            elif [fields[0], *(f.lower() for f in fields[1:])] != [b"$ORIGIN", origin_b]:
                return None
        mm.seek(pos)
        line = mm.readline()
        if mm.find(b"\n$", pos) >= 0:
            return None  # a directive after the first record
        # The apex: the records at the start whose owner is the origin.
        first = line.split(None, 1)[0].lower()
        if first not in (origin_b, b"@"):
            return None
        apex_end = size
        for m in OWNER_WRITTEN.finditer(mm, pos + len(line)):
            if m.group().lower() not in (origin_b, b"@"):
                apex_end = m.start()
                break
        # Cut points: the first line of an owner one label below the apex.
        count = max(1, (size - pos) // part_bytes)
        cuts = [pos]
        for i in range(1, count):
            cut = _cut_after(mm, pos + i * (size - pos) // count, suffix)
            if cut is not None and cut > cuts[-1]:
                cuts.append(cut)
        cuts.append(size)
        parts = []
        line_no = 1 + mm[:pos].count(b"\n") if pos else 1
        for i in range(len(cuts) - 1):
            parts.append(Part(i, cuts[i], cuts[i + 1], line_no))
            line_no += mm[cuts[i] : cuts[i + 1]].count(b"\n")
    return Plan(path, tuple(parts), default_ttl, apex_end, size)


def _cut_after(mm: mmap.mmap, offset: int, suffix: bytes) -> int | None:
    start = mm.find(b"\n", offset)  # the rest of a line cut in the middle
    previous: bytes | None = None
    for m in OWNER_WRITTEN.finditer(mm, start + 1) if start >= 0 else ():
        owner = m.group().lower()
        if previous is not None and owner != previous and is_top_level(owner, suffix):
            return m.start()
        previous = owner
    return None
