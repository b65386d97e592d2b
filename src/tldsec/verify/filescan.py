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
``scanned`` NSEC3 lines and its ``expiry``), merged in file order into the edited
regions' like any other and reduced with them (``part.region_checks``,
``signatures.with_expiry``). ``chain_problems``, ``merge`` and ``scan`` are that merge
and reduce on a list of ranges, for the tests.
"""

from __future__ import annotations

import itertools
import operator
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

from tldsec.dnscore.signedfile import (
    NSEC3_MARK,
    RRSIG_EXPIRY,
    RRSIG_MARK,
    chunks,
    nsec3_lines,
    rrsig_expiring,
)
from tldsec.verify.summary import Expiry, Summary, unordered
from tldsec.verify.workers import Background


def chain_problems(pieces: list[Summary]) -> Iterator[str]:
    """The chain's order and closure over the whole file (RFC 5155 7.1), from the ranges'
    summaries in file order."""
    return Summary.merged(pieces).scanned.problems()


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


def merge(pieces: list[Summary]) -> Expiry:
    """The earliest expiration of the whole file from the scans of its ranges."""
    return Summary.merged(pieces).expiry


def scan(path: Path, origin: str) -> Expiry:
    """The earliest expiration, one pass over the whole file in this process."""
    return scan_piece(path, origin).expiry


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
    caller does other work; ``seconds`` is the wall time to the last result."""

    def __init__(self, path: Path, origin: str, parts: int = 1) -> None:
        self._t0 = time.perf_counter()
        self.seconds = 0.0
        parts = max(1, parts)
        self._job: Background[Summary] = Background(
            scan_piece, [(path, origin, a, b) for a, b in ranges(path, parts)], parts
        )

    def result(self) -> list[Summary]:
        """The ranges' summaries, in file order."""
        found = self._job.results()
        self.seconds = time.perf_counter() - self._t0
        return found

    def close(self) -> None:
        self._job.close()
