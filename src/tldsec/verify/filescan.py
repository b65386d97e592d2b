"""Fast scans over a whole signed zone file, without parsing it (the incremental mode).

The incremental gate checks only the edited owners in full, but two properties belong to
the whole file and are cheap to read straight from its bytes with compiled patterns:

* the NSEC3 chain (RFC 5155 7.1): every NSEC3 line's hashed owner, parameters and next
  hashed owner, so that the chain can be checked closed and in order, and the NSEC3 of
  an edited name looked up;
* the earliest RRSIG expiration (RFC 4034 3.1.5), which must lie beyond the horizon
  (DPS 6.5) whether or not its owner was edited.

Both come from one pass (``scan_piece``), run on byte ranges of the file in worker
processes (``BackgroundScan``); each range's result is a region's ``Summary`` (its
``scanned`` NSEC3 lines and its ``expiry``), merged in file order like any other.
"""

from __future__ import annotations

import itertools
import operator
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tldsec.dnscore.rrsigtime import parse_rrsig_time
from tldsec.dnscore.signedfile import (
    NSEC3_MARK,
    RRSIG_EXPIRY,
    RRSIG_MARK,
    chunks,
    nsec3_lines,
    rrsig_expiring,
)
from tldsec.verify.summary import Nsec3Scan, Summary, unordered
from tldsec.verify.workers import Background


def chain_problems(pieces: list[Summary]) -> Iterator[str]:
    """The chain's order and closure over the whole file (RFC 5155 7.1), from the ranges'
    summaries in file order."""
    whole = Summary()
    for p in pieces:
        whole.merge(p)
    return _chain_problems(whole.scanned)


def _chain_problems(scan: Nsec3Scan) -> Iterator[str]:
    owners, nexts = scan.owners, scan.nexts
    count = len(owners) // 32
    if scan.lines != count:
        yield (
            f"{scan.lines - count} NSEC3 line(s) not in the form the scan reads "
            "(hashed owner one label below the apex, 32 base32hex digits)"
        )
    if not count:
        return
    yield from scan.unordered
    yield from scan.seams

    def label(blob: bytes, i: int) -> str:
        return blob[32 * i : 32 * i + 32].decode()

    if nexts[:-32] != owners[32:]:
        bad = [
            i
            for i in range(count - 1)
            if nexts[32 * i : 32 * i + 32] != owners[32 * i + 32 : 32 * i + 64]
        ]
        for i in bad[:20]:
            yield (
                f"NSEC3 {label(owners, i)} points to {label(nexts, i)}, but the next in the "
                f"chain is {label(owners, i + 1)}: the chain is broken or out of order "
                "(RFC 5155 7.1)"
            )
    if nexts[-32:] != owners[:32]:
        yield (
            f"the last NSEC3 {label(owners, count - 1)} points to {label(nexts, count - 1)}, "
            f"not to the first, {label(owners, 0)}: the chain is not closed"
        )


@dataclass(frozen=True, slots=True)
class Nsec3Index:
    """The NSEC3 chain of a file: owner labels (32 octets each, in file order), their
    type bitmaps (as written), the chain's problems."""

    owners: bytes
    bitmaps: bytes
    starts: array[int]  # bitmap i is bitmaps[starts[i] : starts[i + 1]]
    problems: tuple[str, ...]
    params: frozenset[bytes]
    count: int

    def find(self, label: bytes) -> int | None:
        """The index of the NSEC3 whose owner label is ``label`` (binary search: owners
        are sorted, or ``problems`` says they are not)."""
        owners, low, high = self.owners, 0, self.count
        while low < high:
            mid = (low + high) // 2
            here = owners[32 * mid : 32 * mid + 32]
            if here == label:
                return mid
            if here < label:
                low = mid + 1
            else:
                high = mid
        return None

    def bitmap(self, i: int) -> bytes:
        return self.bitmaps[self.starts[i] : self.starts[i + 1]]


@dataclass(slots=True)
class FileScan:
    """What one pass over a file found."""

    nsec3: Nsec3Index
    earliest_expiry: int | None  # seconds since the epoch
    earliest_line: bytes  # the RRSIG line that expires first
    rrsig_lines: int
    rrsig_unread: int  # RRSIG lines whose expiration the scan could not read
    seconds: float = 0.0


def scan_piece(path: Path, origin: str, start: int = 0, end: int | None = None) -> Summary:
    """Every NSEC3 line and the earliest RRSIG expiration in bytes ``start:end``."""
    nsec3 = nsec3_lines(origin)
    out = Summary()
    scanned, expiry = out.scanned, out.expiry
    owners: list[bytes] = []
    nexts: list[bytes] = []
    bitmaps: list[bytes] = []
    earliest_chunk = b""
    for chunk in chunks(path, start=start, end=end):
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
            if low < expiry.earliest:
                expiry.earliest, earliest_chunk = low, chunk
    if earliest_chunk:
        m = rrsig_expiring(expiry.earliest).search(earliest_chunk)
        if m:
            first = earliest_chunk.rfind(b"\n", 0, m.start()) + 1
            last = earliest_chunk.find(b"\n", m.end())
            expiry.line = earliest_chunk[first : last if last >= 0 else None]
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


def merge(pieces: list[Summary]) -> FileScan:
    """The scan of the whole file from the scans of its ranges, in file order."""
    whole = Summary()
    for p in pieces:
        whole.merge(p)
    scanned, expiry = whole.scanned, whole.expiry
    index = Nsec3Index(
        scanned.owners,
        scanned.bitmaps,
        array("Q", itertools.accumulate(scanned.lengths, initial=0)),
        tuple(_chain_problems(scanned)),
        frozenset(scanned.params),
        len(scanned.owners) // 32,
    )
    earliest = parse_rrsig_time(expiry.earliest.decode("ascii")) if expiry.line else None
    return FileScan(
        index, earliest, expiry.line, expiry.rrsig_lines, expiry.rrsig_lines - expiry.rrsig_read
    )


def scan(path: Path, origin: str) -> FileScan:
    """One pass over the whole file, in this process."""
    return merge([scan_piece(path, origin)])


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
    """``scan`` in forked worker processes, one range of the file each, while the caller
    does other work."""

    def __init__(self, path: Path, origin: str, parts: int = 1) -> None:
        self._t0 = time.perf_counter()
        parts = max(1, parts)
        self._job: Background[Summary] = Background(
            scan_piece, [(path, origin, a, b) for a, b in ranges(path, parts)], parts
        )

    def result(self) -> FileScan:
        found = merge(self._job.results())
        found.seconds = time.perf_counter() - self._t0
        return found

    def close(self) -> None:
        self._job.close()
