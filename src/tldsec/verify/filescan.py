"""Fast scans over a whole signed zone file, without parsing it (the incremental mode).

The incremental gate checks only the edited owners in full, but two properties belong to
the whole file and are cheap to read straight from its bytes with compiled patterns:

* the NSEC3 chain (RFC 5155 7.1): every NSEC3 line's hashed owner, parameters and next
  hashed owner, so that the chain can be checked closed and in order, and the NSEC3 of
  an edited name looked up;
* the earliest RRSIG expiration (RFC 4034 3.1.5), which must lie beyond the horizon
  (DPS 6.5) whether or not its owner was edited.

``order_problem`` checks what the incremental mode relies on when it cuts the file at
owners one label below the apex: owners grouped, one record per line, and the labels
just below the apex in canonical order (RFC 4034 6.1). It runs once per full
verification and the incremental runs keep it true edit by edit.
"""

from __future__ import annotations

import bisect
import calendar
import itertools
import multiprocessing
import re
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 32 << 20  # read in pieces of about this size, cut at line ends
_EXPIRY = re.compile(rb"\tIN\tRRSIG\t[A-Za-z0-9]+ \d+ \d+ \d+ (\d{14}) ")
_OWNER = re.compile(rb"\n([^\t\n;$]*)\t")


@dataclass(slots=True)
class Nsec3Scan:
    """The NSEC3 lines of a file, in file order (hash labels as lowercase base32hex)."""

    owners: list[bytes] = field(default_factory=list)
    nexts: list[bytes] = field(default_factory=list)
    bitmaps: list[bytes] = field(default_factory=list)  # the type mnemonics, as written
    params: set[bytes] = field(default_factory=set)  # "alg flags iterations salt"
    lines: int = 0  # NSEC3 lines seen, matched or not

    def find(self, label: bytes) -> int | None:
        """The index of the NSEC3 whose owner label is ``label`` (owners are sorted)."""
        i = bisect.bisect_left(self.owners, label)
        return i if i < len(self.owners) and self.owners[i] == label else None

    def index(self) -> Nsec3Index:
        """What the incremental check needs, compact enough to leave a worker process."""
        starts = array("Q", itertools.accumulate((len(b) for b in self.bitmaps), initial=0))
        return Nsec3Index(
            b"".join(self.owners),
            b"".join(self.bitmaps),
            starts,
            tuple(self.chain_problems()),
            frozenset(self.params),
            len(self.owners),
        )

    def chain_problems(self) -> Iterator[str]:
        """The chain's order and closure (RFC 5155 7.1), from the owners and nexts alone."""
        owners, nexts = self.owners, self.nexts
        if self.lines != len(owners):
            yield (
                f"{self.lines - len(owners)} NSEC3 line(s) not in the form the scan reads "
                "(hashed owner one label below the apex, 32 base32hex digits)"
            )
        if not owners:
            return
        unordered = [i for i in range(len(owners) - 1) if not owners[i] < owners[i + 1]]
        for i in unordered[:20]:
            yield (
                f"NSEC3 owners out of order or repeated: {owners[i].decode()} then "
                f"{owners[i + 1].decode()}"
            )
        if nexts[:-1] != owners[1:]:
            bad = [i for i in range(len(owners) - 1) if nexts[i] != owners[i + 1]]
            for i in bad[:20]:
                yield (
                    f"NSEC3 {owners[i].decode()} points to {nexts[i].decode()}, but the next "
                    f"in the chain is {owners[i + 1].decode()}: the chain is broken or out of "
                    "order (RFC 5155 7.1)"
                )
        if nexts[-1] != owners[0]:
            yield (
                f"the last NSEC3 {owners[-1].decode()} points to {nexts[-1].decode()}, not "
                f"to the first, {owners[0].decode()}: the chain is not closed"
            )


@dataclass(frozen=True, slots=True)
class Nsec3Index:
    """The NSEC3 chain of a file as one worker read it: owner labels (32 octets each, in
    file order), their type bitmaps (as written), the chain's problems."""

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


def chunks(path: Path, size: int = CHUNK) -> Iterator[bytes]:
    """The file in pieces of whole lines, each starting with a newline (so that every
    line, the first included, follows one)."""
    with open(path, "rb") as f:
        rest = b""
        while True:
            block = f.read(size)
            if not block:
                if rest:
                    yield b"\n" + rest
                return
            block = rest + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                rest = block
                continue
            rest = block[cut:]
            yield b"\n" + block[:cut]


def scan(path: Path, origin: str) -> FileScan:
    """One pass: every NSEC3 line, and the earliest RRSIG expiration."""
    suffix = re.escape(("." + origin.lower().rstrip(".") + ".").encode())
    nsec3 = re.compile(
        rb"\n([0-9a-v]{32})"
        + suffix
        + rb"\t\d+\tIN\tNSEC3\t(\d+ \d+ \d+ \S+) ([0-9a-v]{32})((?: [A-Za-z0-9]+)*)[ \t]*(?=\n)"
    )
    out = Nsec3Scan()
    earliest = b"99999999999999"
    earliest_chunk = b""
    rrsigs = read = 0
    for chunk in chunks(path):
        out.lines += chunk.count(b"\tIN\tNSEC3\t")
        for owner, params, nxt, bitmap in nsec3.findall(chunk):
            out.owners.append(owner)
            out.nexts.append(nxt)
            out.bitmaps.append(bitmap)
            out.params.add(params)
        rrsigs += chunk.count(b"\tIN\tRRSIG\t")
        found = _EXPIRY.findall(chunk)
        read += len(found)
        if found:
            low = min(found)
            if low < earliest:
                earliest, earliest_chunk = low, chunk
    line = b""
    expiry: int | None = None
    if earliest_chunk:
        m = re.search(rb"\tIN\tRRSIG\t[A-Za-z0-9]+ \d+ \d+ \d+ " + earliest + b" ", earliest_chunk)
        if m:
            start = earliest_chunk.rfind(b"\n", 0, m.start()) + 1
            end = earliest_chunk.find(b"\n", m.end())
            line = earliest_chunk[start : end if end >= 0 else None]
        expiry = timestamp(earliest)
    return FileScan(out.index(), expiry, line, rrsigs, rrsigs - read)


class BackgroundScan:
    """``scan`` in a forked worker process, while the caller does other work."""

    def __init__(self, path: Path, origin: str) -> None:
        self._pool = multiprocessing.get_context("fork").Pool(1)
        self._job = self._pool.apply_async(_timed_scan, (path, origin))

    def result(self) -> FileScan:
        try:
            return self._job.get()
        finally:
            self.close()

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()


def _timed_scan(path: Path, origin: str) -> FileScan:
    t0 = time.perf_counter()
    found = scan(path, origin)
    found.seconds = time.perf_counter() - t0
    return found


_UNSIGNED_LINE = re.compile(rb"\n(([^\s;$][^\s]*)[ \t][^\n]*)")


def unsigned_subtrees(path: Path, origin: str, tops: frozenset[bytes]) -> bytes | str:
    """The lines of an unsigned zone file whose owners lie in the subtrees below the
    labels ``tops`` (b"" for the apex itself), after its leading $ORIGIN and $TTL; or why
    the file cannot be read this way (relative owners, omitted owners, directives or
    entries over several lines after the header)."""
    suffix = ("." + origin.lower().rstrip(".") + ".").encode()
    apex = suffix[1:]
    cut = len(suffix)
    out: list[bytes] = []
    header = True
    for chunk in chunks(path):
        if header:
            body = _skip_header(chunk)
            if body is None:
                return "the unsigned zone has no records"
            for line in chunk[:body].split(b"\n"):
                if line.startswith(b"$"):
                    fields = line.split()
                    if fields[0].upper() == b"$ORIGIN" and fields[1:] != [apex]:
                        return "the unsigned zone's $ORIGIN is not the zone's origin"
                    out.append(line + b"\n")
            chunk = chunk[body:]
            header = False
        for bad, why in (
            (b"\n$", "a directive after the header"),
            (b"(", "an entry over several lines"),
            (b"\n ", "a line without its owner"),
            (b"\n\t", "a line without its owner"),
        ):
            if bad in chunk:
                return f"the unsigned zone has {why}"
        for line, owner in _UNSIGNED_LINE.findall(chunk):
            owner = owner.lower()
            if owner == apex:
                top = b""
            elif owner.endswith(suffix):
                top = owner[:-cut].rpartition(b".")[2]
            elif owner.endswith(b"."):
                continue  # not in the zone: the content check of a full run reports it
            elif owner == b"@":
                top = b""
            else:  # relative to the origin (any $ORIGIN in the header is the origin)
                top = owner.rpartition(b".")[2]
            if top in tops:
                out.append(line + b"\n")
    return b"".join(out)


class BackgroundUnsigned:
    """``unsigned_subtrees`` in a forked worker process."""

    def __init__(self, path: Path, origin: str, tops: frozenset[bytes]) -> None:
        self._pool = multiprocessing.get_context("fork").Pool(1)
        self._job = self._pool.apply_async(unsigned_subtrees, (path, origin, tops))

    def result(self) -> bytes | str:
        try:
            return self._job.get()
        finally:
            self.close()

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()


def timestamp(text: bytes) -> int:
    """YYYYMMDDHHmmSS (RFC 4034 3.2) as seconds since the epoch."""
    t = text.decode("ascii")
    return calendar.timegm(
        (int(t[0:4]), int(t[4:6]), int(t[6:8]), int(t[8:10]), int(t[10:12]), int(t[12:14]))
    )


def order_problem(path: Path, origin: str) -> str | None:
    """Why the file cannot be cut at owners one label below the apex, or None if it can:
    one record per line with its owner written out, no directives or multi-line entries
    after the header, the apex first, and the labels below the apex in canonical order
    (RFC 4034 6.1), each one's names together."""
    suffix = ("." + origin.lower().rstrip(".") + ".").encode()
    apex = origin.lower().encode() if origin.endswith(".") else origin.lower().encode() + b"."
    last_top: bytes | None = None
    header = True
    for chunk in chunks(path):
        if header:
            body = _skip_header(chunk)
            if body is None:
                return "the file has no records"
            chunk = chunk[body:]
            header = False
        problem = syntax_problem(chunk)
        if problem is not None:
            return problem
        owners = [k for k, _ in itertools.groupby(_OWNER.findall(chunk.lower()))]
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


_UNCUTTABLE = (
    (b"\n$", "a directive after the header"),
    (b"(", "an entry over several lines"),
    (b'"', "a quoted string"),
    (b"\\", "an escaped character"),
    (b"\n ", "a line without its owner"),
    (b"\n\t", "a line without its owner"),
    (b"\n;", "a comment after the header"),
    (b"\n\n", "a blank line after the header"),
)


def syntax_problem(lines: bytes) -> str | None:
    """What in these lines (after the header, following a newline) the cut cannot
    handle, or None: each line must be one record, its owner written out and followed
    by a tab."""
    for bad, why in _UNCUTTABLE:
        if bad in lines:
            return f"the file has {why}"
    records = lines.count(b"\n") - (1 if lines.endswith(b"\n") else 0)
    if len(_OWNER.findall(lines)) != records:
        return "the file has a line whose owner is not followed by a tab"
    return None


def _skip_header(chunk: bytes) -> int | None:
    """The offset of the first record line (comments, blank lines and a leading $TTL or
    $ORIGIN skipped); the offset points at the newline before it."""
    pos = 0
    while True:
        end = chunk.find(b"\n", pos + 1)
        if end < 0:
            return None
        line = chunk[pos + 1 : end].strip()
        if line and not line.startswith((b";", b"$")):
            return pos
        pos = end


def top_label(owner: bytes, apex: bytes, suffix: bytes) -> bytes | None:
    """The label just below the apex (lowercase owner text), b"" for the apex itself,
    None for a name outside the zone."""
    if owner == apex:
        return b""
    if not owner.endswith(suffix):
        return None
    return owner[: -len(suffix)].rsplit(b".", 1)[-1]
