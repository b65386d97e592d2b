"""``tldsec audit verify`` on the database: the chain, its anchors, and its archives.

The chain and its signed checkpoints (``verify_chain``) prove the log consistent with
itself. Two things it cannot see are checked here:

* **a rewind** (DPS 4.4.4): entries and checkpoints after some point deleted and the
  head row moved back, by someone who switched the triggers off. Every anchor outside
  the database that can be read (``audit/anchors.py``) is compared with the log.
* **lost archives** (DPS 4.4.3): every archive the log mentions (an ``audit.archived``
  entry, on-line or inside a later archive, and its record) must, within the archive
  retention, exist, hash as recorded and verify under its seal; and every archive
  record on whose strength entries were purged must be one the log mentions.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from tldsec.audit.anchors import (
    CheckpointAnchor,
    anchor_summary,
    compare_with_anchors,
    read_anchors,
)
from tldsec.audit.chain import Anchor, VerifyReport, verify_chain
from tldsec.audit.entry import Entry
from tldsec.audit.events import EventType
from tldsec.audit.models import ENTRIES
from tldsec.audit.query import ArchiveRecord, EntryFilter, iter_entries, load_archive_records
from tldsec.audit.report import Finding, FindingKind
from tldsec.audit.sources import ChainInput, archive_input, database_input
from tldsec.errors import AuditError


@dataclass(frozen=True, slots=True)
class ArchiveStatus:
    """One archive the log mentions, and what was found of its file."""

    file_name: str
    first_seq: int
    last_seq: int
    sha256: str
    keep_until: datetime
    state: str  # "verified", "expired", "missing", "changed", "does not verify", "unregistered"
    online: bool  # its entries are still in the database too

    @property
    def ok(self) -> bool:
        return self.state in ("verified", "expired")

    def line(self) -> str:
        return (
            f"{self.file_name} seq {self.first_seq}-{self.last_seq} sha256 {self.sha256[:16]}... "
            f"kept until {self.keep_until:%Y-%m-%d}: {self.state}"
        )


@dataclass(frozen=True, slots=True)
class DatabaseVerification:
    """The chain's report (with the anchor and archive findings in it) and what was read."""

    report: VerifyReport
    anchors_checked: tuple[str, ...]
    anchors_unreachable: tuple[str, ...]
    archives: tuple[ArchiveStatus, ...]


@dataclass(frozen=True, slots=True)
class Mention:
    """An ``audit.archived`` entry: the log's own word that an archive was written."""

    seq: int
    file: str
    first_seq: int
    last_seq: int
    sha256: str


def verify_database(
    engine: Engine,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    now: datetime,
    anchors: Sequence[CheckpointAnchor] = (),
    archive_dir: Path | None = None,
    archive_retention: timedelta = timedelta(days=1095),
    from_seq: int | None = None,
    to_seq: int | None = None,
) -> DatabaseVerification:
    """Verify the on-line log (or a range) against itself, its anchors and its archives."""
    source = database_input(engine, from_seq=from_seq, to_seq=to_seq)
    report = verify_input(source, keys)
    extra: list[Finding] = []
    checked: tuple[str, ...] = ()
    unreachable: tuple[str, ...] = ()
    archives: tuple[ArchiveStatus, ...] = ()
    if from_seq is None and to_seq is None:
        head_seq = source.head.seq if source.head is not None else 0
        oldest = _oldest_online(engine)
        copies, missing = read_anchors(anchors)
        extra += compare_with_anchors(
            copies,
            keys=keys,
            head_seq=head_seq,
            oldest_online=oldest,
            hash_at=lambda seqs: _hashes(engine, seqs),
        )
        checked, unreachable = anchor_summary(copies), tuple(missing)
        if archive_dir is not None:
            statuses, found = check_archives(
                engine, keys, archive_dir, archive_retention, now, oldest
            )
            archives = tuple(statuses)
            extra += found
    if extra:
        report = dataclasses.replace(report, findings=report.findings + tuple(extra))
    return DatabaseVerification(report, checked, unreachable, archives)


def check_archives(
    engine: Engine,
    keys: Mapping[str, Ed25519PublicKey],
    directory: Path,
    retention: timedelta,
    now: datetime,
    oldest_online: int | None,
) -> tuple[list[ArchiveStatus], list[Finding]]:
    """Every archive record and ``audit.archived`` entry, against the files."""
    records = load_archive_records(engine)
    mentions = {m.file: m for m in online_mentions(engine)}
    statuses: list[ArchiveStatus] = []
    findings: list[Finding] = []
    for record in records:
        keep_until = record.newest_time + retention
        online = oldest_online is not None and record.first_seq >= oldest_online
        path = directory / record.file_name
        state = _file_state(path, record, keys) if now < keep_until else "expired"
        if state == "verified":
            mentions.update({m.file: m for m in _file_mentions(path)})
        statuses.append(
            ArchiveStatus(
                record.file_name,
                record.first_seq,
                record.last_seq,
                record.file_sha256,
                keep_until,
                state,
                online,
            )
        )
    for i, record in enumerate(records):
        status = statuses[i]
        if not status.ok:
            findings.append(
                Finding(
                    FindingKind.ARCHIVE,
                    record.first_seq,
                    record.last_seq,
                    f"archive {directory / record.file_name} is {status.state}, within the "
                    f"archive retention (until {keep(status)}): DPS 4.4.3",
                )
            )
        mention = mentions.get(record.file_name)
        if mention is None or (mention.first_seq, mention.last_seq, mention.sha256) != (
            record.first_seq,
            record.last_seq,
            record.file_sha256,
        ):
            if status.state == "expired" and mention is None:
                continue  # its audit.archived entry went with an expired archive
            statuses[i] = dataclasses.replace(status, state="unregistered")
            findings.append(
                Finding(
                    FindingKind.ARCHIVE,
                    record.first_seq,
                    record.last_seq,
                    f"the archive record {record.file_name} (sha256 {record.file_sha256[:16]}...) "
                    "matches no audit.archived entry of the log: it was not written by "
                    "'tldsec audit archive'"
                    + ("" if status.online else "; entries were purged on its strength"),
                )
            )
    known = {r.file_name for r in records}
    for name, mention in sorted(mentions.items()):
        if name not in known:
            findings.append(
                Finding(
                    FindingKind.ARCHIVE,
                    mention.first_seq,
                    mention.last_seq,
                    f"entry {mention.seq} says archive {name} was written, but the database "
                    "has no record of it",
                )
            )
    return statuses, findings


def keep(status: ArchiveStatus) -> str:
    return f"{status.keep_until:%Y-%m-%d}"


def verify_input(source: ChainInput, keys: Mapping[str, Ed25519PublicKey]) -> VerifyReport:
    """Verify a chain read from a database or from files, with everything it carries."""
    return verify_chain(
        source.entries,
        keys=keys,
        checkpoints=source.checkpoints,
        anchor=source.anchor,
        head=source.head,
        complete=source.complete,
        malformed=source.malformed,
    )


def verify_archive_file(
    path: Path, record: ArchiveRecord, keys: Mapping[str, Ed25519PublicKey]
) -> VerifyReport:
    """Verify an archive file as the whole of its record's range, anchored at the hash
    the record keeps; it covers the range when ``ok`` and ``signed_upto`` is its last."""
    source = archive_input([path])
    return verify_chain(
        source.entries,
        keys=keys,
        checkpoints=source.checkpoints,
        anchor=Anchor(record.first_seq - 1, record.prev_hash, "its archive record"),
        complete=True,
        malformed=source.malformed,
    )


def _file_state(path: Path, record: ArchiveRecord, keys: Mapping[str, Ed25519PublicKey]) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if hashlib.sha256(data).hexdigest() != record.file_sha256:
        return "changed"
    report = verify_archive_file(path, record, keys)
    if not report.ok or report.signed_upto != record.last_seq:
        return "does not verify"
    return "verified"


def mention_of(entry: Entry) -> Mention | None:
    d = entry.details
    try:
        return Mention(
            entry.seq, str(d["file"]), int(d["first_seq"]), int(d["last_seq"]), str(d["sha256"])
        )
    except (KeyError, TypeError, ValueError):
        return None


def _mentions(entries: Iterator[Entry]) -> Iterator[Mention]:
    for entry in entries:
        if entry.event == EventType.AUDIT_ARCHIVED.value:
            mention = mention_of(entry)
            if mention is not None:
                yield mention


def online_mentions(engine: Engine) -> list[Mention]:
    return list(_mentions(iter_entries(engine, EntryFilter(events=("audit.archived",)))))


def _file_mentions(path: Path) -> list[Mention]:
    return list(_mentions(archive_input([path]).entries))


def _oldest_online(engine: Engine) -> int | None:
    try:
        with engine.connect() as conn:
            value = conn.execute(select(func.min(ENTRIES.c.seq))).scalar_one()
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit log: {exc}") from exc
    return None if value is None else int(value)


def _hashes(engine: Engine, seqs: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    try:
        with engine.connect() as conn:
            for i in range(0, len(seqs), 500):
                chunk = list(seqs[i : i + 500])
                rows = conn.execute(
                    select(ENTRIES.c.seq, ENTRIES.c.hash).where(ENTRIES.c.seq.in_(chunk))
                )
                found.update({int(r.seq): str(r.hash) for r in rows})
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit log: {exc}") from exc
    return found


def describe(verification: DatabaseVerification) -> list[str]:
    """The lines ``verify`` prints about anchors and archives."""
    lines = [f"anchor {a}" for a in verification.anchors_checked]
    lines += [f"anchor not checked: {a}" for a in verification.anchors_unreachable]
    if not verification.anchors_checked:
        lines.append("warning: no anchor outside the database was read: a rewind would not show")
    lines += [f"archive {a.line()}" for a in verification.archives]
    return lines


__all__ = [
    "ArchiveStatus",
    "DatabaseVerification",
    "Mention",
    "check_archives",
    "describe",
    "verify_database",
]
