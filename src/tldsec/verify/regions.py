"""The zone files' owners and subtrees, read from their bytes (decision 71): where a
signed file can be cut into parts (``plan_parts``), the incremental run's regions (every
edit widened, in both files at once, to whole subtrees one label below the apex; the apex
always one), whether a file or the regions read again keep it cuttable
(``order_problem``, ``region_problems``) and the unsigned zone's lines of those subtrees
(``unsigned_subtrees``). docs/verify.md, "When it runs" and "What it checks", states
the cutting conditions and why they are sound.
"""

from __future__ import annotations

import itertools
import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tldsec.dnscore import names
from tldsec.dnscore.signedfile import (
    FIRST_FIELD,
    OWNER_AFTER_NEWLINE,
    OWNER_LINE,
    OWNER_WRITTEN,
    UNSIGNED_LINE,
    UNSIGNED_UNCUTTABLE,
    chunks,
    header_directives,
    is_top_level,
    skip_header,
    syntax_problem,
    top_label,
    zone_suffix,
)
from tldsec.dnscore.zonepatch import ZonePatch
from tldsec.errors import BadName
from tldsec.verify.report import Finding

HEAD_BYTES = 1 << 20  # a longer header: read whole


def _after_header(path: Path) -> Iterator[tuple[bytes, bytes] | None]:
    """``chunks`` of the file as (the header before them, their records): the first
    chunk's header up to its first record (``skip_header``), b"" for the others; None,
    and no more, if the first chunk has no record."""
    first = True
    for chunk in chunks(path):
        if not first:
            yield b"", chunk
            continue
        body = skip_header(chunk)
        if body is None:
            yield None
            return
        first = False
        yield chunk[:body], chunk[body:]


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


def plan_parts(path: Path, origin: str, part_bytes: int) -> Plan | None:
    """Where to cut the file into parts of about ``part_bytes``, or None if not safely."""
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


# --- the incremental run's regions ----------------------------------------------------


@dataclass(slots=True)
class Region:
    """Bytes ``old_start:old_end`` of the previous file and ``new_start:new_end`` of the
    candidate; the bytes between two regions are the same in both files."""

    old_start: int
    old_end: int
    new_start: int
    new_end: int


class _Lines:
    """Line boundaries and owners of one file (read through its mapping)."""

    def __init__(self, data: mmap.mmap | bytes, origin: str) -> None:
        self.data = data
        self.size = len(data)
        self.apex = origin.lower().encode()
        self.suffix = b"." + self.apex

    def end_of_line(self, pos: int) -> int:
        end = self.data.find(b"\n", pos)
        return self.size if end < 0 else end + 1

    def start_of_line_before(self, pos: int) -> int:
        return self.data.rfind(b"\n", 0, max(0, pos - 1)) + 1

    def top(self, pos: int) -> bytes:
        """The label below the apex of the owner of the line at ``pos``; b"" for the
        apex, a header line (comment, blank, directive) or a name outside the zone (which
        the region's reading reports)."""
        m = FIRST_FIELD.match(self.data, pos)
        owner = m.group(0).lower() if m else b""
        if not owner or owner.startswith((b";", b"$")):
            return b""
        top = top_label(owner, self.apex, self.suffix)
        return b"" if top is None else top


def regions(
    patch: ZonePatch, old: mmap.mmap | bytes, new: mmap.mmap | bytes, origin: str
) -> list[Region]:
    """The edits widened to whole subtrees below the apex, merged, in file order; the
    apex is the first. Call once the patch's sizes and line starts fit the files."""
    o, n = _Lines(old, origin), _Lines(new, origin)
    work = [Region(0, 0, 0, 0)] + [
        Region(e.old_start, e.old_end, e.new_start, e.new_end)
        for e in patch.edits
        if e.old_start != e.old_end or e.new_start != e.new_end
    ]
    while True:
        merged: list[Region] = []
        for r in work:
            if merged and r.new_start <= merged[-1].new_end:
                last = merged[-1]
                last.old_end = max(last.old_end, r.old_end)
                last.new_end = max(last.new_end, r.new_end)
            else:
                merged.append(r)
        grew = False
        for i, r in enumerate(merged):
            low = merged[i - 1].new_end if i else 0
            high = merged[i + 1].new_start if i + 1 < len(merged) else n.size
            grew |= _widen(r, o, n, low, high)
        work = merged
        if not grew:
            return work


def _tops(r: Region, o: _Lines, n: _Lines, first: bool) -> set[bytes]:
    """The labels below the apex at the region's first (or last) line in either file;
    b"" (the apex) for an empty region at the top of the files."""
    out: set[bytes] = set()
    for lines, start, end in ((o, r.old_start, r.old_end), (n, r.new_start, r.new_end)):
        if start < end:
            out.add(lines.top(start if first else lines.start_of_line_before(end)))
    if not out and r.new_start == 0:
        out.add(b"")  # the apex, with the header before it
    return out


def _widen(r: Region, o: _Lines, n: _Lines, low: int, high: int) -> bool:
    """Move the region's ends over the unchanged lines of the same subtrees; True if it
    reached a neighbour (the two must then be merged)."""
    grew = False
    tops = _tops(r, o, n, first=True)
    while r.new_start > low and tops:
        start = n.start_of_line_before(r.new_start)
        if n.top(start) not in tops:
            break
        r.old_start -= r.new_start - start
        r.new_start = start
    if r.new_start <= low and low > 0:
        grew = True
    tops = _tops(r, o, n, first=False)
    while r.new_end < high and tops:
        if n.top(r.new_end) not in tops:
            break
        end = n.end_of_line(r.new_end)
        r.old_end += end - r.new_end
        r.new_end = end
    if r.new_end >= high and high < n.size:
        grew = True
    return grew


def order_problem(path: Path, origin: str) -> str | None:
    """Why the file cannot be cut at owners one label below the apex, or None if it can:
    one record per line with its owner written out, no directives or multi-line entries
    after the header, the apex first, and the labels below the apex in canonical order
    (RFC 4034 6.1), each one's names together."""
    suffix = zone_suffix(origin)
    apex = suffix[1:]
    last_top: bytes | None = None
    for piece in _after_header(path):
        if piece is None:
            return "the file has no records"
        chunk = piece[1]
        problem = syntax_problem(chunk)
        if problem is not None:
            return problem
        owners = [k for k, _ in itertools.groupby(OWNER_AFTER_NEWLINE.findall(chunk.lower()))]
        tops: list[bytes] = []
        for owner in owners:
            top = top_label(owner, apex, suffix)
            if top is None:
                return f"owner {owner.decode('utf-8', 'replace')} is not in the zone"
            tops.append(top)
        runs = [k for k, _ in itertools.groupby(tops)]
        if last_top is not None and runs and runs[0] == last_top:
            runs = runs[1:]
        for i, top in enumerate(runs):
            before = runs[i - 1] if i else last_top
            if before is not None and top <= before:
                if top == b"":
                    return "the apex's records are not all at the top"
                return (
                    f"names under {top.decode('utf-8', 'replace')} are out of canonical order "
                    f"or not together (after names under {before.decode('utf-8', 'replace')})"
                )
        if runs:
            last_top = runs[-1]
    return None


def region_problems(found: list[Region], new: mmap.mmap, origin: str) -> Iterator[Finding]:
    """Each region's owners in canonical order (RFC 4034 6.1), each owner's lines
    together, and its subtrees between those of its neighbours: what lets the next
    incremental run cut the file again."""
    apex = origin.lower().encode()
    suffix = b"." + apex
    cache: dict[bytes, bytes] = {}
    for r in found:
        text = new[r.new_start : r.new_end]
        body = (
            text[text.index(b"\n" + apex) :] if r.new_start == 0 and b"\n" + apex in text else text
        )
        problem = syntax_problem(body if body.startswith(b"\n") else b"\n" + body)
        if problem is not None:
            yield Finding("", "", f"bytes {r.new_start}-{r.new_end}: {problem}")
        owners = [k for k, _ in itertools.groupby(m.lower() for m in OWNER_LINE.findall(text))]
        if len(set(owners)) != len(owners):
            yield Finding("", "", f"owners repeated apart in bytes {r.new_start}-{r.new_end}")
        previous: bytes | None = None
        for owner in owners:
            key = cache.get(owner)
            if key is None:
                try:
                    key = cache[owner] = names.canonical_key(names.to_wire(owner.decode()))
                except (BadName, UnicodeDecodeError):
                    yield Finding(owner.decode("utf-8", "replace"), "", "not a domain name")
                    continue
            if previous is not None and key <= previous:
                yield Finding(
                    owner.decode(), "", "out of canonical order (RFC 4034 6.1) in an edited region"
                )
            previous = key
        if not owners:
            continue
        first = top_label(owners[0], apex, suffix)
        last = top_label(owners[-1], apex, suffix)
        before = _top_at(new, r.new_start - 1, apex, suffix, back=True) if r.new_start else None
        after = _top_at(new, r.new_end, apex, suffix, back=False) if r.new_end < len(new) else None
        if first is not None and before is not None and not before < first:
            yield Finding(owners[0].decode(), "", "out of canonical order with the line before")
        if last is not None and after is not None and not last < after:
            yield Finding(owners[-1].decode(), "", "out of canonical order with the line after")


def _top_at(data: mmap.mmap, pos: int, apex: bytes, suffix: bytes, *, back: bool) -> bytes | None:
    start = data.rfind(b"\n", 0, pos) + 1 if back else pos
    m = OWNER_LINE.match(data, start)
    if m is None:
        return None
    return top_label(m.group(1).lower(), apex, suffix)


# --- the unsigned zone's lines of the regions' subtrees ---------------------------------


def unsigned_subtrees(path: Path, origin: str, tops: frozenset[bytes]) -> bytes | str:
    """The lines of an unsigned zone file whose owners lie in the subtrees below the
    labels ``tops`` (b"" for the apex itself), after its leading $ORIGIN and $TTL; or why
    the file cannot be read this way (relative owners, omitted owners, directives or
    entries over several lines after the header)."""
    suffix = zone_suffix(origin)
    apex = suffix[1:]
    out: list[bytes] = []
    for piece in _after_header(path):
        if piece is None:
            return "the unsigned zone has no records"
        header, chunk = piece
        for fields in header_directives(header, len(header)):
            if fields[0] == b"$ORIGIN" and fields[1:] != [apex]:
                return "the unsigned zone's $ORIGIN is not the zone's origin"
            out.append(b" ".join(fields) + b"\n")
        for bad, why in UNSIGNED_UNCUTTABLE:
            if bad in chunk:
                return f"the unsigned zone has {why}"
        for line, owner in UNSIGNED_LINE.findall(chunk):
            owner = owner.lower()
            top = top_label(owner, apex, suffix)
            if top is None:
                if owner.endswith(b"."):
                    continue  # not in the zone: the content check of a full run reports it
                # @, or relative to the origin (any $ORIGIN in the header is the origin)
                top = b"" if owner == b"@" else owner.rpartition(b".")[2]
            if top in tops:
                out.append(line + b"\n")
    return b"".join(out)
