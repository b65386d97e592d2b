"""The patch checked against both files, and the regions the incremental gate re-reads.

A ``ZonePatch`` (``dnscore.zonepatch``) claims that every byte outside its edits is the
same in the previous verified file and the candidate. Nothing here trusts it:
``compare_unchanged`` proves the claim in large blocks (sizes, line alignment of every
edit, then the bytes), and ``regions`` widens every edit, in both files at once, to
whole subtrees one label below the apex, so that whatever a change touches (the names
under a new or removed zone cut, an empty non-terminal above a new name) is read again.
The apex (SOA, DNSKEY, NSEC3PARAM and the header) is always a region.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass

from tldsec.dnscore.signedfile import FIRST_FIELD, top_label
from tldsec.dnscore.zonepatch import ZonePatch

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
