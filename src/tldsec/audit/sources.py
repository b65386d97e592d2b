"""Where ``verify`` gets a chain from: the audit database, or archive and export files.

Archive files are JSON Lines (docs/audit.md): a header record, the entries in sequence
order, the checkpoints that fall inside them, and a seal that signs the file's last
entry and where the file starts. Exports are the same without header and seal. Several
files verify as one chain when each continues the previous one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tldsec.audit.chain import GENESIS, Anchor, Finding, FindingKind
from tldsec.audit.entry import Checkpoint, Entry
from tldsec.audit.query import (
    EntryFilter,
    head_row,
    iter_entries,
    load_archive_records,
    load_checkpoints,
)
from tldsec.errors import AuditError

ARCHIVE_FORMAT = "tldsec-audit-archive"


@dataclass(slots=True)
class ChainInput:
    """Everything ``verify_chain`` needs besides the trusted keys."""

    entries: Iterator[Entry]
    checkpoints: list[Checkpoint]
    anchor: Anchor | None
    head: Anchor | None
    complete: bool
    description: str
    malformed: list[Finding] = field(default_factory=list)


def database_input(
    engine: Engine, *, from_seq: int | None = None, to_seq: int | None = None
) -> ChainInput:
    """The on-line log, whole or a range of sequence numbers."""
    archives = load_archive_records(engine)
    if from_seq is None:
        if archives:
            last = archives[-1]
            anchor: Anchor | None = Anchor(
                last.last_seq, last.head_hash, f"the archive {last.file_name}"
            )
        else:
            anchor = GENESIS
    else:
        anchor = GENESIS if from_seq <= 1 else None
    head = None
    if to_seq is None:
        seq, hash_ = head_row(engine)
        head = Anchor(seq, hash_, "the head row")
    flt = EntryFilter(from_seq=from_seq, to_seq=to_seq)
    where = "the audit database"
    if from_seq is not None or to_seq is not None:
        where += f" (seq {from_seq or 1}..{to_seq if to_seq is not None else 'end'})"
    return ChainInput(
        entries=iter_entries(engine, flt),
        checkpoints=load_checkpoints(engine, from_seq, to_seq),
        anchor=anchor,
        head=head,
        complete=to_seq is None,
        description=where,
    )


@dataclass(frozen=True, slots=True)
class ArchiveHeader:
    first_seq: int
    last_seq: int
    prev_hash: str


@dataclass(slots=True)
class _FileScan:
    path: Path
    header: ArchiveHeader | None = None
    checkpoints: list[Checkpoint] = field(default_factory=list)
    first_entry_seq: int | None = None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open("r", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    yield number, line
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditError(f"cannot read {path}: {exc}") from exc


def _parse(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _is_entry_line(line: str) -> bool:
    return '"record": "entry"' in line or '"record":"entry"' in line


def _scan(path: Path, malformed: list[Finding]) -> _FileScan:
    """First pass: everything but the entries (header, checkpoints, seal)."""
    scan = _FileScan(path)
    lines = 0
    for number, line in _lines(path):
        lines += 1
        if _is_entry_line(line):
            if scan.first_entry_seq is None:
                record = _parse(line)
                if record is not None and isinstance(record.get("seq"), int):
                    scan.first_entry_seq = record["seq"]
            continue
        record = _parse(line)
        kind = record.get("record") if record is not None else None
        try:
            if record is not None and kind == "archive":
                if record.get("format") != ARCHIVE_FORMAT:
                    raise ValueError(f"format {record.get('format')!r}")
                scan.header = ArchiveHeader(
                    int(record["first_seq"]), int(record["last_seq"]), str(record["prev_hash"])
                )
                continue
            if record is not None and kind in ("checkpoint", "seal"):
                scan.checkpoints.append(Checkpoint.from_record(record))
                continue
        except (KeyError, ValueError, TypeError) as exc:
            malformed.append(_malformed(path, number, f"bad {kind} record ({exc})"))
            continue
        malformed.append(_malformed(path, number, "not an audit record"))
    if not lines:
        malformed.append(_malformed(path, 0, "the file is empty"))
    return scan


def _entries(paths: Sequence[Path], malformed: list[Finding]) -> Iterator[Entry]:
    """Second pass: the entries of every file, in order, as they are read."""
    for path in paths:
        for number, line in _lines(path):
            if not _is_entry_line(line):
                continue
            record = _parse(line)
            if record is None or record.get("record") != "entry":
                malformed.append(_malformed(path, number, "not an audit record"))
                continue
            try:
                yield Entry.from_record(record)
            except (KeyError, ValueError, TypeError) as exc:
                malformed.append(_malformed(path, number, f"bad entry record ({exc})"))


def _malformed(path: Path, line: int, what: str) -> Finding:
    return Finding(FindingKind.MALFORMED, None, None, f"{path.name} line {line}: {what}")


def archive_input(paths: Sequence[Path]) -> ChainInput:
    """Archive or export files, verified as one chain (ordered by where they start)."""
    if not paths:
        raise AuditError("no archive file given")
    malformed: list[Finding] = []
    scans = [_scan(p, malformed) for p in paths]

    def start(scan: _FileScan) -> int:
        if scan.header is not None:
            return scan.header.first_seq
        return scan.first_entry_seq if scan.first_entry_seq is not None else 0

    scans.sort(key=start)
    first = scans[0]
    anchor = None
    if first.header is not None and first.header.first_seq == 1:
        anchor = GENESIS
    checkpoints = [cp for scan in scans for cp in scan.checkpoints]
    names = ", ".join(s.path.name for s in scans)
    return ChainInput(
        entries=_entries([s.path for s in scans], malformed),
        checkpoints=checkpoints,
        anchor=anchor,  # otherwise the (signed) seal supplies it
        head=None,
        complete=True,
        description=names,
        malformed=malformed,
    )
