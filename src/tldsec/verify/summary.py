"""What a region tells the reduce about the whole zone: one summary, merged in file order.

Every region of a run, whichever plan cut it (the parts of a big file, the whole zone,
the incremental run's edited regions and the byte ranges of its whole-file scan),
returns a ``Summary``: small enough to leave a worker process, and merged in file order
(``Summary.merge``) into the summary of every region before it; the reduce
(``part.region_checks``, ``signatures.with_expiry``) reads the merged one. Its pieces:
the order of the cut (RFC 4034 6.1), the hashed names and NSEC3 records checked in full
(``Nsec3Part``; the incremental run also the previous zone's of the same regions), the
NSEC3 lines as the scan reads them (``Nsec3Scan``, RFC 5155 7.1: the chain's ends at each
seam, its order and closure), the earliest RRSIG expiration (``Expiry``, DPS 6.5), the
signing runs for jitter, the content digests, counts, seconds.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

from tldsec.dnscore.rrsigtime import parse_rrsig_time
from tldsec.verify.jitter import Jitter
from tldsec.verify.report import Collector

NEVER = b"99999999999999"  # later than any RRSIG time as written (RFC 4034 3.2)


@dataclass(slots=True)
class Nsec3Part:
    """What one region contributes to the NSEC3 check: hashed names and NSEC3 records."""

    # (hash, name, the type bitmap its NSEC3 must carry)
    expected: list[tuple[bytes, bytes, bytes]] = field(default_factory=list)
    hidden: list[tuple[bytes, bytes]] = field(default_factory=list)  # (hash, occluded name)
    # (hash from the owner label, owner, next hashed owner, type bitmap)
    present: list[tuple[bytes, bytes, bytes, bytes]] = field(default_factory=list)
    findings: Collector = field(default_factory=Collector)


@dataclass(slots=True)
class Nsec3Scan:
    """The NSEC3 lines of a byte range as the scan reads them (the labels as blobs of 32
    octets each), merged in file order."""

    owners: bytes = b""
    nexts: bytes = b""
    bitmaps: bytes = b""
    lengths: array[int] = field(default_factory=lambda: array("Q"))
    unordered: list[str] = field(default_factory=list)  # within a range
    seams: list[str] = field(default_factory=list)  # where two ranges meet
    params: set[bytes] = field(default_factory=set)  # "alg flags iterations salt"
    lines: int = 0  # NSEC3 lines seen, matched or not

    def merge(self, other: Nsec3Scan) -> None:
        """Add the scan of the range that follows this one in the file."""
        if self.owners and other.owners and not self.owners[-32:] < other.owners[:32]:
            self.seams.append(unordered(self.owners[-32:], other.owners[:32]))
        self.owners += other.owners
        self.nexts += other.nexts
        self.bitmaps += other.bitmaps
        self.lengths.extend(other.lengths)
        self.unordered.extend(other.unordered)
        self.seams.extend(other.seams)
        self.params |= other.params
        self.lines += other.lines

    def problems(self) -> Iterator[str]:
        """The chain's order and closure over what was merged (RFC 5155 7.1)."""
        owners, nexts = self.owners, self.nexts
        count = len(owners) // 32
        if self.lines != count:
            yield (
                f"{self.lines - count} NSEC3 line(s) not in the form the scan reads "
                "(hashed owner one label below the apex, 32 base32hex digits)"
            )
        if not count:
            return
        yield from self.unordered
        yield from self.seams

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
                    f"NSEC3 {label(owners, i)} points to {label(nexts, i)}, but the next in "
                    f"the chain is {label(owners, i + 1)}: the chain is broken or out of "
                    "order (RFC 5155 7.1)"
                )
        if nexts[-32:] != owners[:32]:
            yield (
                f"the last NSEC3 {label(owners, count - 1)} points to "
                f"{label(nexts, count - 1)}, not to the first, {label(owners, 0)}: the chain "
                "is not closed"
            )

    def find(self, label: bytes) -> int | None:
        """The index of the NSEC3 whose owner label is ``label`` (binary search: owners
        are sorted, or ``problems`` says they are not)."""
        owners, low, high = self.owners, 0, len(self.owners) // 32
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

    def bitmap(self, i: int, starts: array[int]) -> bytes:
        """NSEC3 ``i``'s type bitmap as written; ``starts``: ``bitmap_starts()``."""
        return self.bitmaps[starts[i] : starts[i + 1]]

    def bitmap_starts(self) -> array[int]:
        return array("Q", itertools.accumulate(self.lengths, initial=0))


def unordered(a: bytes, b: bytes) -> str:
    return f"NSEC3 owners out of order or repeated: {a.decode()} then {b.decode()}"


@dataclass(slots=True)
class Expiry:
    """The earliest RRSIG expiration of a byte range as written (RFC 4034 3.1.5), its
    line, and how many RRSIG lines the scan saw and read."""

    written: bytes = NEVER
    earliest_line: bytes = b""
    rrsig_lines: int = 0
    rrsig_read: int = 0

    def merge(self, other: Expiry) -> None:
        """Add the range that follows this one: the earlier expiration wins, the first
        of equal ones."""
        if other.written < self.written:
            self.written, self.earliest_line = other.written, other.earliest_line
        self.rrsig_lines += other.rrsig_lines
        self.rrsig_read += other.rrsig_read

    @property
    def earliest_expiry(self) -> int | None:
        """The earliest expiration in seconds since the epoch (None: no RRSIG line)."""
        return parse_rrsig_time(self.written.decode("ascii")) if self.earliest_line else None

    @property
    def rrsig_unread(self) -> int:
        """RRSIG lines whose expiration the scan could not read."""
        return self.rrsig_lines - self.rrsig_read


@dataclass(slots=True)
class Summary:
    """What a region tells the reduce about the whole zone (see the module docstring)."""

    first_key: bytes = b""  # the first and last label below the apex among its owners
    last_key: bytes = b""
    ordered: bool = True  # the regions so far in canonical order, no subtree in two
    nsec3: list[Nsec3Part] = field(default_factory=list)  # hashed names, NSEC3 records
    previous: list[Nsec3Part] = field(default_factory=list)  # the same, previous zone
    jitter: Jitter = field(default_factory=Jitter)  # signing runs' expirations (DPS 6.5)
    digests: dict[bytes, bytes] = field(default_factory=dict)  # content, by owner
    digested: int = 0  # owners digested, each region's counted (an owner in two: twice)
    scanned: Nsec3Scan = field(default_factory=Nsec3Scan)  # NSEC3 lines as written
    # The unchanged bytes' proof: the first byte of each unchanged range (its number in
    # the patch) that differs from the previous file, in the text of the refusal.
    differs: dict[int, str] = field(default_factory=dict)
    expiry: Expiry = field(default_factory=Expiry)  # the earliest RRSIG expiration
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # CPU seconds by check

    @staticmethod
    def merged(regions: list[Summary]) -> Summary:
        """The summaries of regions in file order, merged."""
        out = Summary()
        for r in regions:
            out.merge(r)
        return out

    def merge(self, other: Summary) -> None:
        """Add the summary of the region that follows this one in the file."""
        if other.last_key:
            # Each region's subtrees come strictly after those before it (RFC 4034 6.1).
            if self.last_key and not self.last_key < other.first_key:
                self.ordered = False
            if not self.last_key:
                self.first_key = other.first_key
            self.last_key = other.last_key
        self.ordered = self.ordered and other.ordered
        self.nsec3.extend(other.nsec3)
        self.previous.extend(other.previous)
        self.jitter.merge(other.jitter)
        self.scanned.merge(other.scanned)
        for k, text in other.differs.items():
            self.differs.setdefault(k, text)  # the first of a range cut in two
        self.expiry.merge(other.expiry)
        self.digests.update(other.digests)
        self.digested += other.digested
        for key, count in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + count
        for key, seconds in other.seconds.items():
            self.seconds[key] = self.seconds.get(key, 0.0) + seconds
