"""One pass over a whole signed zone file, without parsing it (the incremental mode).

Each byte range of the candidate is read once on every core (``scan_piece``,
``BackgroundScan``): the bytes the patch says are unchanged compared with the previous
verified file's, every NSEC3 line's hashed owner, parameters and next hashed owner (RFC
5155 7.1) and the earliest RRSIG expiration (RFC 4034 3.1.5, DPS 6.5) kept. Each range
returns a region's ``Summary``, merged and reduced with the edited regions' (docs/verify.md,
"What it checks", items 1, 3 and 4).
"""

from __future__ import annotations

import itertools
import mmap
import operator
import os
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tldsec.dnscore.signedfile import (
    NSEC3_MARK,
    RRSIG_EXPIRY,
    RRSIG_MARK,
    chunks,
    nsec3_lines,
    rrsig_expiring,
)
from tldsec.dnscore.zonepatch import Same
from tldsec.verify.summary import Summary, unordered
from tldsec.verify.workers import Background

BLOCK = 1 << 20  # bytes compared at a time
Bytes = bytes | mmap.mmap
Read = Callable[[int, int], bytes]  # (offset, length) -> those bytes of a file


def scan_piece(
    path: Path,
    origin: str,
    start: int = 0,
    end: int | None = None,
    previous: Path | None = None,
    same: Sequence[tuple[int, Same]] = (),
) -> Summary:
    """Every NSEC3 line and the earliest RRSIG expiration in bytes ``start:end``, and
    the first byte of each unchanged range ``same`` (numbered) that differs from the
    ``previous`` file."""
    nsec3 = nsec3_lines(origin)
    out = Summary()
    scanned, expiry = out.scanned, out.expiry
    owners: list[bytes] = []
    nexts: list[bytes] = []
    bitmaps: list[bytes] = []
    earliest_chunk = b""
    with _reading(previous) as old:
        pos = start
        for chunk in chunks(path, start=start, end=end):
            if same:
                _compare(old, chunk, pos, same, out.differs)
            pos += len(chunk) - 1  # the bytes after the newline it starts with
            scanned.lines += chunk.count(NSEC3_MARK)
            for owner, params, nxt, bitmap in nsec3.findall(chunk):
                owners.append(owner)
                nexts.append(nxt)
                bitmaps.append(bitmap)
                scanned.params.add(params)
            expiry.rrsig_lines += chunk.count(RRSIG_MARK)
            found = RRSIG_EXPIRY.findall(chunk)
            expiry.rrsig_read += len(found)
            if found:
                low = min(found)
                if low < expiry.written:
                    expiry.written, earliest_chunk = low, chunk
    if earliest_chunk:
        m = rrsig_expiring(expiry.written).search(earliest_chunk)
        if m:
            first = earliest_chunk.rfind(b"\n", 0, m.start()) + 1
            last = earliest_chunk.find(b"\n", m.end())
            expiry.earliest_line = earliest_chunk[first : last if last >= 0 else None]
    scanned.unordered = (
        [
            unordered(owners[i], owners[i + 1])
            for i in range(len(owners) - 1)
            if not owners[i] < owners[i + 1]
        ][:20]
        if not all(map(operator.lt, owners, owners[1:]))
        else []
    )
    scanned.owners, scanned.nexts = b"".join(owners), b"".join(nexts)
    scanned.bitmaps = b"".join(bitmaps)
    scanned.lengths = array("Q", (len(b) for b in bitmaps))
    return out


def first_difference(old: Read, old_at: int, new: Bytes, new_at: int, length: int) -> int | None:
    """How far into ``length`` bytes of ``new`` from ``new_at`` the first that differs
    from the ``old`` file's from ``old_at`` lies, or None if none does."""
    pos = 0
    while pos < length:
        n = min(BLOCK, length - pos)
        a = old(old_at + pos, n)
        b = new[new_at + pos : new_at + pos + n]
        if a != b:
            short = min(len(a), len(b))
            return pos + next((i for i in range(short) if a[i] != b[i]), short)
        pos += n
    return None


def differs(new_at: int, old_at: int) -> str:
    return (
        f"byte {new_at} of the candidate differs from byte {old_at} of the previous "
        "verified file, which the patch says is unchanged"
    )


def _compare(
    old: Read, chunk: bytes, pos: int, same: Sequence[tuple[int, Same]], out: dict[int, str]
) -> None:
    """Compare the bytes of ``chunk`` (file offset ``pos`` after its leading newline)
    that ``same`` says are unchanged; the first that differs in each range into ``out``."""
    end = pos + len(chunk) - 1
    for k, s in same:
        low, high = max(s.new_start, pos), min(s.new_start + s.length, end)
        if low >= high or k in out:
            continue
        old_at = low + s.old_start - s.new_start
        at = first_difference(old, old_at, chunk, low - pos + 1, high - low)
        if at is not None:
            out[k] = differs(low + at, old_at + at)


@contextmanager
def _reading(path: Path | None) -> Iterator[Read]:
    """Reads bytes of the file at ``path`` (none without one)."""
    if path is None:
        yield lambda offset, length: b""
        return
    with open(path, "rb") as f:
        fd = f.fileno()
        yield lambda offset, length: os.pread(fd, length, offset)


def ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """``parts`` byte ranges of the file, cut at line starts."""
    size = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as f:
        for k in range(1, parts):
            f.seek(size * k // parts)
            f.readline()
            at = f.tell()
            if cuts[-1] < at < size:
                cuts.append(at)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


class BackgroundScan:
    """``scan_piece`` in forked worker processes, one range of the file each, while the
    caller does other work; ``seconds`` is the wall time to the last result. Nothing
    runs before ``start``."""

    def __init__(self) -> None:
        self._job: Background[Summary] | None = None
        self._t0 = time.perf_counter()
        self.seconds = 0.0

    def start(
        self, path: Path, origin: str, parts: int, previous: Path, same: Sequence[Same]
    ) -> None:
        """Scan ``path`` in ``parts`` ranges, and compare its ``same`` ranges with
        ``previous``."""
        self._t0 = time.perf_counter()
        parts = max(1, parts)
        calls: list[tuple[object, ...]] = []
        for a, b in ranges(path, parts):
            mine = [
                (k, s) for k, s in enumerate(same) if s.new_start < b and a < s.new_start + s.length
            ]
            calls.append((path, origin, a, b, previous, mine))
        self._job = Background(scan_piece, calls, parts)

    def result(self) -> list[Summary]:
        """The ranges' summaries, in file order (none if not started)."""
        found = self._job.results() if self._job is not None else []
        self.seconds = time.perf_counter() - self._t0
        return found

    def differences(self) -> list[str]:
        """Waits for the ranges: the first byte of each unchanged range that differs."""
        found = Summary.merged(self.result()).differs
        return [found[k] for k in sorted(found)]

    def close(self) -> None:
        if self._job is not None:
            self._job.close()
