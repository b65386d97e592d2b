"""IXFR differences between consecutive serials, in the condensed form of RFC 1995.

A ``ZoneDiff`` is one step of the zone's history: the old SOA, the records deleted,
the new SOA, the records added (RFC 1995 4), each a zone-file line. It is computed from
the two signed zone files themselves (the verified files, written by tldsec's zone
writer, so one record is always the same line): a set of the old file's lines, one
pass over the new one. On disk it is a zone-file-like text, readable by people:

    ; tldsec IXFR example. 2024030101 -> 2024030102
    example.  86400 IN SOA ... 2024030101 ...     <- old SOA
    ...deleted records...
    example.  86400 IN SOA ... 2024030102 ...     <- new SOA
    ...added records...

``WireDiff`` is the same step as wire RRs, for the primary.

When the new file comes with a ``ZonePatch`` from the old one (``dnscore.zonepatch``:
the byte ranges an incremental re-sign replaced, every other byte the same), the
difference is read from the edited ranges alone (``diff_patched``): a few thousand lines
instead of two whole zones. It is the same ``ZoneDiff`` ``diff_files`` gives, as long
as neither file repeats a record line (tldsec's zone writer never does: a zone is a
set of records, RFC 2181 5).
"""

from __future__ import annotations

import io
import mmap
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tldsec.atomicfile import replacing
from tldsec.distribute.records import line_to_wire, rr_rdata
from tldsec.dnscore.rdatatext import RdataText
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import soa_serial
from tldsec.dnscore.zonepatch import ZonePatch, ZonePatchError
from tldsec.errors import ZoneSyntaxError

HEADER = "; tldsec IXFR"


@dataclass(frozen=True, slots=True)
class ZoneDiff:
    """One step from ``from_serial`` to ``to_serial`` (RFC 1995 4, condensed)."""

    origin: str
    from_serial: int
    to_serial: int
    old_soa: str
    deleted: tuple[str, ...]
    new_soa: str
    added: tuple[str, ...]

    @property
    def changes(self) -> int:
        return len(self.deleted) + len(self.added)

    def lines(self) -> Iterator[str]:
        yield f"{HEADER} {self.origin} {self.from_serial} -> {self.to_serial}\n"
        yield self.old_soa + "\n"
        for line in self.deleted:
            yield line + "\n"
        yield self.new_soa + "\n"
        for line in self.added:
            yield line + "\n"


@dataclass(frozen=True, slots=True)
class WireDiff:
    """A ``ZoneDiff`` as wire RRs."""

    from_serial: int
    to_serial: int
    old_soa: bytes
    deleted: tuple[bytes, ...]
    new_soa: bytes
    added: tuple[bytes, ...]

    @classmethod
    def from_diff(cls, diff: ZoneDiff) -> WireDiff:
        text = RdataText()  # the caches this difference's lines share
        return cls(
            from_serial=diff.from_serial,
            to_serial=diff.to_serial,
            old_soa=line_to_wire(diff.old_soa, text)[1],
            deleted=tuple(line_to_wire(line, text)[1] for line in diff.deleted),
            new_soa=line_to_wire(diff.new_soa, text)[1],
            added=tuple(line_to_wire(line, text)[1] for line in diff.added),
        )

    def __len__(self) -> int:
        return len(self.deleted) + len(self.added) + 2

    def records(self) -> Iterator[bytes]:
        """Old SOA, deleted, new SOA, added: one difference sequence (RFC 1995 4)."""
        yield self.old_soa
        yield from self.deleted
        yield self.new_soa
        yield from self.added


def _records(path: Path) -> Iterator[str]:
    """The record lines of a zone file written by tldsec (comments and blanks skipped)."""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line and not line.startswith(";"):
                yield line


def _is_soa(line: str) -> bool:
    fields = line.split(None, 4)
    return len(fields) == 5 and fields[3] == "SOA"


def _serial(line: str) -> int:
    rtype, wire = line_to_wire(line)
    if rtype != RRType.SOA:
        raise ValueError(f"not an SOA record: {line[:80]!r}")
    return soa_serial(rr_rdata(wire))


def diff_files(old: Path, new: Path, origin: str) -> ZoneDiff:
    """The difference from the zone file ``old`` to ``new`` (both with one SOA)."""
    return _diff(set(_records(old)), _records(new), new, origin)


def diff_patched(
    old: Path, new: Path, patch: ZonePatch, origin: str, *, check_unchanged: bool = True
) -> ZoneDiff:
    """The difference from ``old`` to ``new`` read from the patch's edited ranges only.

    ``ZonePatchError`` when the patch does not fit the two files: sizes, edits that do not
    start and end on line boundaries, or (``check_unchanged``, the default) a byte outside
    the edits that differs. Leave the check to a caller that has made it already (the
    verification gate compares the unchanged ranges itself)."""
    with open(old, "rb") as fo, open(new, "rb") as fn:
        sizes = (os.fstat(fo.fileno()).st_size, os.fstat(fn.fileno()).st_size)
        if sizes != (patch.previous_size, patch.size):
            raise ZonePatchError(f"{new}: the patch is for files of other sizes")
        if 0 in sizes:
            raise ZonePatchError(f"{new}: a zone file is empty")
        with (
            mmap.mmap(fo.fileno(), 0, access=mmap.ACCESS_READ) as mo,
            mmap.mmap(fn.fileno(), 0, access=mmap.ACCESS_READ) as mn,
        ):
            for e in patch.edits:
                if not (_at_line_start(mo, e.old_start) and _at_line_start(mo, e.old_end)):
                    raise ZonePatchError(f"{old}: an edit does not cover whole lines")
                if not (_at_line_start(mn, e.new_start) and _at_line_start(mn, e.new_end)):
                    raise ZonePatchError(f"{new}: an edit does not cover whole lines")
            if check_unchanged:
                _check_unchanged(fo, fn, patch, new)
            before: set[str] = set()
            for e in patch.edits:
                before.update(_text_records(mo[e.old_start : e.old_end]))
            added = (
                line for e in patch.edits for line in _text_records(mn[e.new_start : e.new_end])
            )
            return _diff(before, added, new, origin)


def _at_line_start(data: mmap.mmap, pos: int) -> bool:
    return pos == 0 or pos == len(data) or data[pos - 1] == 0x0A


def _check_unchanged(
    old: io.BufferedReader, new: io.BufferedReader, patch: ZonePatch, name: Path
) -> None:
    """Compare every byte outside the edits (reads into two buffers: faster than slicing
    the memory maps, which faults each page in)."""
    step = 1 << 22
    a, b = bytearray(step), bytearray(step)
    for run in patch.unchanged():
        old.seek(run.old_start)
        new.seek(run.new_start)
        left = run.length
        while left:
            n = min(step, left)
            x, y = (a, b) if n == step else (bytearray(n), bytearray(n))
            if old.readinto(x) != n or new.readinto(y) != n or x != y:
                raise ZonePatchError(f"{name}: bytes outside the patch's edits differ")
            left -= n


def _text_records(chunk: bytes) -> Iterator[str]:
    """The record lines of a run of whole lines, as ``_records`` reads them from a file."""
    text = chunk.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    for line in text.split("\n"):
        if line and not line.startswith(";"):
            yield line


def _diff(before: set[str], new_lines: Iterable[str], new: Path, origin: str) -> ZoneDiff:
    """Records in ``before`` (the old zone's) not met in ``new_lines`` are deleted; lines
    of ``new_lines`` not in ``before`` are added (RFC 1995 4)."""
    added: list[str] = []
    new_soa: str | None = None
    for line in new_lines:
        if line in before:
            before.discard(line)
        elif _is_soa(line):
            new_soa = line
        else:
            added.append(line)
    old_soas = [line for line in before if _is_soa(line)]
    if new_soa is None or len(old_soas) != 1:
        raise ZoneSyntaxError(
            str(new), None, "the two zones need one SOA each, with different serials"
        )
    old_soa = old_soas[0]
    before.discard(old_soa)
    return ZoneDiff(
        origin=origin,
        from_serial=_serial(old_soa),
        to_serial=_serial(new_soa),
        old_soa=old_soa,
        deleted=tuple(sorted(before)),
        new_soa=new_soa,
        added=tuple(added),
    )


def write_diff(diff: ZoneDiff, path: Path) -> None:
    """Write atomically (temporary file, fsync, rename)."""
    with replacing(path, "w", encoding="utf-8") as out:
        out.writelines(diff.lines())


def read_diff(path: Path) -> ZoneDiff:
    """Read a difference file; ``ZoneSyntaxError`` if it is not one."""
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline().split()
            lines = [line.rstrip("\n") for line in f if line.strip()]
    except OSError as exc:
        raise ZoneSyntaxError(str(path), None, f"cannot read: {exc.strerror}") from exc
    if header[:3] != HEADER.split() or len(header) != 7:
        raise ZoneSyntaxError(str(path), 1, "not a tldsec IXFR difference file")
    soas = [i for i, line in enumerate(lines) if _is_soa(line)]
    if len(soas) != 2 or soas[0] != 0:
        raise ZoneSyntaxError(str(path), None, "a difference has exactly two SOA records")
    split = soas[1]
    try:
        diff = ZoneDiff(
            origin=header[3],
            from_serial=int(header[4]),
            to_serial=int(header[6]),
            old_soa=lines[0],
            deleted=tuple(lines[1:split]),
            new_soa=lines[split],
            added=tuple(lines[split + 1 :]),
        )
        if _serial(diff.old_soa) != diff.from_serial or _serial(diff.new_soa) != diff.to_serial:
            raise ValueError("the SOA serials disagree with the header")
    except ValueError as exc:
        raise ZoneSyntaxError(str(path), None, str(exc)) from exc
    return diff
