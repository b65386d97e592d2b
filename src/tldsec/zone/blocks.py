"""Owner blocks of a built unsigned zone file, found by bisection without reading it all.

A file from ``zone.builder`` is one header comment, then ``owner TTL IN TYPE RDATA``
lines sorted by owner in canonical order (RFC 4034 6.1; ``builder.canonical_key``),
then one trailer comment. The records of one owner are consecutive: its block. Over a
memory map of the file, ``ZoneFileBlocks.find`` bisects on line starts to the block of
any owner (an empty range where a new owner would go), reading a few dozen lines.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass

from tldsec.errors import ZoneSyntaxError
from tldsec.zone.builder import canonical_key


@dataclass(frozen=True, slots=True)
class Block:
    """Bytes ``start:end`` of the file hold every record of ``owner`` (maybe none)."""

    owner: str
    start: int
    end: int


class ZoneFileBlocks:
    """The record region of a built zone file, searchable by owner."""

    def __init__(self, data: mmap.mmap | bytes, name: str = "<zone>") -> None:
        self.data = data
        self.name = name
        first = data.find(b"\n")
        if data[:1] != b";" or first < 0 or data[len(data) - 1 :] != b"\n":
            raise ZoneSyntaxError(name, 1, "not a zone file written by tldsec zone build")
        last = data.rfind(b"\n", 0, len(data) - 1) + 1
        if data[last : last + 1] != b";":
            raise ZoneSyntaxError(name, None, "the zone file has no trailer line")
        self.start = first + 1  # the first record line
        self.end = last  # the trailer line

    def _owner_at(self, pos: int) -> str:
        space = self.data.find(b" ", pos, pos + 300)
        if space < 0:
            raise ZoneSyntaxError(self.name, None, f"no owner name at byte {pos}")
        return self.data[pos:space].decode("ascii")

    def _line_start(self, pos: int) -> int:
        """The start of the line holding byte ``pos`` (within the record region)."""
        return max(self.data.rfind(b"\n", self.start - 1, pos) + 1, self.start)

    def _next_line(self, pos: int) -> int:
        nl = self.data.find(b"\n", pos, self.end)
        return self.end if nl < 0 else nl + 1

    def find(self, owner: str, lo: int | None = None) -> Block:
        """The block of ``owner`` (absolute name); ``lo``: a line start known to be at or
        before it (the end of the previous block when owners are looked up in order)."""
        key = canonical_key(owner)
        lo = self.start if lo is None else lo
        hi = self.end
        # Invariant: every line starting before lo sorts before owner; every line
        # starting at or after hi sorts at or after it.
        while lo < hi:
            mid = self._line_start((lo + hi) // 2)
            if mid < lo:
                mid = lo
            if canonical_key(self._owner_at(mid)) < key:
                lo = self._next_line(mid)
            else:
                hi = mid
        end = lo
        while end < self.end and self._owner_at(end) == owner:
            end = self._next_line(end)
        return Block(owner, lo, end)

    def lines(self, block: Block) -> list[str]:
        """The record lines of a block, without their newlines."""
        if block.start == block.end:
            return []
        return self.data[block.start : block.end - 1].decode("ascii").split("\n")

    def blocks(self, owners: list[str]) -> Iterator[Block]:
        """The blocks of ``owners`` (absolute names, sorted in canonical order)."""
        lo = self.start
        for owner in owners:
            block = self.find(owner, lo)
            yield block
            lo = block.end
