"""The patch checked against both files, the regions the incremental gate re-reads, and
whether a file can be cut at owners one label below the apex.

A ``ZonePatch`` (``dnscore.zonepatch``) claims that every byte outside its edits is the
same in the previous verified file and the candidate. Nothing here trusts it:
``compare_unchanged`` proves the claim in large blocks (sizes, line alignment of every
edit, then the bytes), and ``regions`` widens every edit, in both files at once, to
whole subtrees one label below the apex, so that whatever a change touches (the names
under a new or removed zone cut, an empty non-terminal above a new name) is read again.
The apex (SOA, DNSKEY, NSEC3PARAM and the header) is always a region.

Cutting is sound only in a file with one record per line, each owner written out and
followed by a tab, no directives, comments or multi-line entries after the header, the
apex first and the labels below it in canonical order (RFC 4034 6.1), each label's names
together. ``order_problem`` checks a whole file (after every full verification, for the
record the next run builds on); ``region_problems`` checks the regions an incremental
run read again, which with the unchanged bytes keeps the whole file so.
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
    chunks,
    skip_header,
    syntax_problem,
    top_label,
    zone_suffix,
)
from tldsec.dnscore.zonepatch import ZonePatch
from tldsec.errors import BadName
from tldsec.verify.report import Finding

BLOCK = 8 << 20  # bytes compared at a time


@dataclass(slots=True)
class Region:
    """Bytes ``old_start:old_end`` of the previous file and ``new_start:new_end`` of the
    candidate; the bytes between two regions are the same in both files."""

    old_start: int
    old_end: int
    new_start: int
    new_end: int


def compare_unchanged(
    patch: ZonePatch, old: mmap.mmap | bytes, new: mmap.mmap | bytes
) -> Iterator[str]:
    """Every way the patch does not fit the two files (empty when it does)."""
    if patch.previous_size != len(old):
        yield (
            f"the patch says the previous file has {patch.previous_size} bytes; it has {len(old)}"
        )
    if patch.size != len(new):
        yield f"the patch says the candidate has {patch.size} bytes; it has {len(new)}"
    if patch.previous_size != len(old) or patch.size != len(new):
        return
    for i, e in enumerate(patch.edits):
        for what, data, pos in (
            ("previous", old, e.old_start),
            ("previous", old, e.old_end),
            ("candidate", new, e.new_start),
            ("candidate", new, e.new_end),
        ):
            if 0 < pos < len(data) and data[pos - 1 : pos] != b"\n":
                yield f"edit {i}: offset {pos} of the {what} file is not at the start of a line"
    for same in patch.unchanged():
        pos = 0
        while pos < same.length:
            n = min(BLOCK, same.length - pos)
            a = old[same.old_start + pos : same.old_start + pos + n]
            b = new[same.new_start + pos : same.new_start + pos + n]
            if a != b:
                at = next(i for i in range(n) if a[i] != b[i])
                yield (
                    f"byte {same.new_start + pos + at} of the candidate differs from byte "
                    f"{same.old_start + pos + at} of the previous verified file, which the "
                    "patch says is unchanged"
                )
                break
            pos += n


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
    apex is the first. Call after ``compare_unchanged`` found nothing."""
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
    apex = origin.lower().encode() if origin.endswith(".") else origin.lower().encode() + b"."
    last_top: bytes | None = None
    header = True
    for chunk in chunks(path):
        if header:
            body = skip_header(chunk)
            if body is None:
                return "the file has no records"
            chunk = chunk[body:]
            header = False
        problem = syntax_problem(chunk)
        if problem is not None:
            return problem
        owners = [k for k, _ in itertools.groupby(OWNER_AFTER_NEWLINE.findall(chunk.lower()))]
        tops: list[bytes] = []
        cut = len(suffix)
        for owner in owners:
            if owner.endswith(suffix):
                tops.append(owner[:-cut].rpartition(b".")[2])
            elif owner == apex:
                tops.append(b"")
            else:
                return f"owner {owner.decode('utf-8', 'replace')} is not in the zone"
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
