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
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tldsec.distribute.records import line_to_wire, rr_rdata
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import soa_serial
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
        return cls(
            from_serial=diff.from_serial,
            to_serial=diff.to_serial,
            old_soa=line_to_wire(diff.old_soa)[1],
            deleted=tuple(line_to_wire(line)[1] for line in diff.deleted),
            new_soa=line_to_wire(diff.new_soa)[1],
            added=tuple(line_to_wire(line)[1] for line in diff.added),
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
    before = set(_records(old))
    added: list[str] = []
    new_soa: str | None = None
    for line in _records(new):
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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.writelines(diff.lines())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
