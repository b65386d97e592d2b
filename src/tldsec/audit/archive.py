"""Archive old entries into signed files, purge what is archived, expire old archives.

DPS 4.4.3: entries stay on-line for the on-line retention (policy, default one year) and
are archived for at least the archive retention (default three years). ``archive`` moves
the oldest on-line entries past the on-line retention into one JSON Lines file that
continues the previous file's chain and ends with a seal signed by the audit key. It
verifies the entries first, so an archive can never launder tampering. ``purge`` drops
on-line entries only when an archive file holds them and still verifies; the database
triggers refuse anything else. Each of the three writes its own audit entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, delete, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from tldsec.audit.chain import GENESIS, Anchor, verify_chain
from tldsec.audit.entry import Checkpoint, Entry, checkpoint_message, format_time
from tldsec.audit.events import Actor, EventType
from tldsec.audit.log import AuditLog
from tldsec.audit.models import ARCHIVES, ENTRIES
from tldsec.audit.query import (
    ArchiveRecord,
    EntryFilter,
    head_row,
    iter_entries,
    load_archive_records,
    load_checkpoints,
)
from tldsec.audit.sources import ARCHIVE_FORMAT
from tldsec.audit.verification import online_mentions, verify_archive_file
from tldsec.errors import AuditError

ARCHIVE_MODE = 0o600  # DPS 4.4.4: protected against viewing
ARCHIVE_DIR_MODE = 0o700
MAX_ENTRIES_PER_FILE = 1_000_000


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    path: Path
    first_seq: int
    last_seq: int
    sha256: str


@dataclass(frozen=True, slots=True)
class PurgeResult:
    removed: int
    first_seq: int | None
    last_seq: int | None


def archive_file_name(first_seq: int, last_seq: int) -> str:
    return f"audit-{first_seq:012d}-{last_seq:012d}.jsonl"


def archive_old_entries(
    log: AuditLog,
    *,
    directory: Path,
    online_retention: timedelta,
    actor: Actor | str,
    max_entries: int = MAX_ENTRIES_PER_FILE,
) -> ArchiveResult | None:
    """Write the entries older than the on-line retention (not yet archived) to a file."""
    signer = log.signer
    if signer is None:
        raise AuditError("no audit key configured: archives cannot be sealed")
    now = log.clock.now()
    records = load_archive_records(log.engine)
    start = _anchor_after(records)
    first_seq = start.seq + 1
    upto = _archivable_upto(log, first_seq, now - online_retention)
    upto = min(upto, first_seq + max_entries - 1)
    if upto < first_seq:
        return None
    if not directory.exists():
        directory.mkdir(mode=ARCHIVE_DIR_MODE, parents=True)
        directory.chmod(ARCHIVE_DIR_MODE)  # mkdir's mode is filtered by the umask
    name = archive_file_name(first_seq, upto)
    final = directory / name
    if final.exists():
        raise AuditError(f"{final} already exists; refusing to overwrite an archive")
    tmp = directory / f".{name}.tmp"
    digest = hashlib.sha256()
    newest: list[datetime] = []
    last: list[Entry] = []
    keys = {signer.key_id: signer.public_key()}
    checkpoints = load_checkpoints(log.engine, first_seq, upto)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, ARCHIVE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as out:

            def emit(record: Mapping[str, object]) -> None:
                line = json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"
                out.write(line)
                digest.update(line.encode("utf-8"))

            emit(
                {
                    "record": "archive",
                    "format": ARCHIVE_FORMAT,
                    "version": 1,
                    "first_seq": first_seq,
                    "last_seq": upto,
                    "prev_hash": start.hash,
                    "created": format_time(now),
                }
            )

            def written() -> Iterator[Entry]:
                for entry in iter_entries(log.engine, EntryFilter(from_seq=first_seq, to_seq=upto)):
                    emit(entry.to_record())
                    if not newest or entry.time > newest[0]:
                        newest[:] = [entry.time]
                    last[:] = [entry]
                    yield entry

            report = verify_chain(
                written(), keys=keys, checkpoints=checkpoints, anchor=start, complete=False
            )
            if not report.ok or not last or last[0].seq != upto:
                problems = "; ".join(str(f) for f in report.findings) or "entries are missing"
                raise AuditError(
                    f"the entries to archive do not verify, nothing archived: {problems}"
                )
            for cp in checkpoints:
                emit(cp.to_record())
            head = last[0]
            message = checkpoint_message(upto, head.hash, now, (start.seq, start.hash))
            seal = Checkpoint(
                upto, head.hash, now, signer.key_id, signer.sign(message), (start.seq, start.hash)
            )
            emit(seal.to_record())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
        _fsync_dir(directory)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sha256 = digest.hexdigest()
    # The log itself says first what was archived (docs/audit.md): the purge function and
    # 'verify' accept an archive record only with this entry after its range.
    log.record(
        EventType.AUDIT_ARCHIVED,
        actor=actor,
        file=name,
        first_seq=first_seq,
        last_seq=upto,
        sha256=sha256,
    )
    try:
        with log.engine.begin() as conn:
            conn.execute(
                insert(ARCHIVES).values(
                    last_seq=upto,
                    first_seq=first_seq,
                    prev_hash=start.hash,
                    head_hash=last[0].hash,
                    newest_time=newest[0],
                    file_name=name,
                    file_sha256=sha256,
                    created=now,
                    key_id=signer.key_id,
                )
            )
    except SQLAlchemyError as exc:
        raise AuditError(f"archive {final} written, but not recorded: {exc}") from exc
    return ArchiveResult(final, first_seq, upto, sha256)


def purge_archived(
    log: AuditLog,
    *,
    directory: Path,
    online_retention: timedelta,
    actor: Actor | str,
    keys: Mapping[str, Ed25519PublicKey],
    maintenance: Engine | None = None,
) -> PurgeResult:
    """Drop on-line entries that a verified archive holds and the retention lets go.

    Each archive must be one the log itself mentions (its ``audit.archived`` entry), and
    its file must exist, hash as recorded, verify under its seal and cover its range. On
    PostgreSQL the delete runs as ``maintenance``, the role 'tldsec audit grant
    --maintenance' made: the application role cannot call the purge function (DPS 4.4.3).
    """
    now = log.clock.now()
    records = load_archive_records(log.engine)
    if not records:
        raise AuditError(
            "nothing is archived: purge removes only archived entries "
            "(run 'tldsec audit archive' first)"
        )
    oldest = _oldest_online(log)
    if oldest is None:
        return PurgeResult(0, None, None)
    cutoff = now - online_retention
    upto = oldest - 1
    used: list[str] = []
    mentions = {m.file: m for m in online_mentions(log.engine)}
    for record in records:
        if record.last_seq < oldest:
            continue  # purged already
        if record.newest_time >= cutoff:
            break  # DPS 4.4.3: still inside the on-line retention
        mention = mentions.get(record.file_name)
        if mention is None or (mention.first_seq, mention.last_seq, mention.sha256) != (
            record.first_seq,
            record.last_seq,
            record.file_sha256,
        ):
            raise AuditError(
                f"the archive record {record.file_name} matches no audit.archived entry of "
                "the log: it was not written by 'tldsec audit archive'; nothing purged"
            )
        check_archive_file(directory, record, keys)
        upto = record.last_seq
        used.append(record.file_name)
    if upto < oldest:
        return PurgeResult(0, None, None)
    engine = maintenance or log.engine
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # The narrow path: the SECURITY DEFINER function the trigger lets through.
                removed = int(
                    conn.execute(text("SELECT tldsec_audit_purge(:u)"), {"u": upto}).scalar_one()
                )
            else:
                removed = conn.execute(delete(ENTRIES).where(ENTRIES.c.seq <= upto)).rowcount
    except SQLAlchemyError as exc:
        hint = (
            "; purging needs the maintenance role: set [audit] maintenance_url"
            if maintenance is None and "permission denied" in str(exc)
            else ""
        )
        raise AuditError(f"the database refused the purge: {exc}{hint}") from exc
    log.record(
        EventType.AUDIT_PURGED,
        actor=actor,
        first_seq=oldest,
        last_seq=upto,
        removed=removed,
        archives=used,
    )
    return PurgeResult(removed, oldest, upto)


def destroy_expired_archives(
    log: AuditLog, *, directory: Path, archive_retention: timedelta, actor: Actor | str
) -> list[Path]:
    """Delete archive files whose newest entry is older than the archive retention."""
    now = log.clock.now()
    oldest = _oldest_online(log)
    destroyed: list[Path] = []
    for record in load_archive_records(log.engine):
        path = directory / record.file_name
        if record.newest_time >= now - archive_retention or not path.exists():
            continue
        if oldest is not None and record.last_seq >= oldest:
            continue  # its entries are still on-line too; never the only copy gone first
        path.unlink()
        _fsync_dir(directory)
        destroyed.append(path)
        log.record(
            EventType.AUDIT_ARCHIVE_DESTROYED,
            actor=actor,
            file=record.file_name,
            first_seq=record.first_seq,
            last_seq=record.last_seq,
            sha256=record.file_sha256,
        )
    return destroyed


def check_archive_file(
    directory: Path, record: ArchiveRecord, keys: Mapping[str, Ed25519PublicKey]
) -> None:
    """The file the record names exists, is unchanged, and verifies under its seal."""
    path = directory / record.file_name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AuditError(
            f"archive {path} (seq {record.first_seq}-{record.last_seq}) cannot be read: "
            f"{exc.strerror}; nothing purged"
        ) from exc
    if hashlib.sha256(data).hexdigest() != record.file_sha256:
        raise AuditError(f"archive {path} changed since it was written; nothing purged")
    report = verify_archive_file(path, record, keys)
    if not report.ok or report.signed_upto != record.last_seq:
        problems = "; ".join(str(f) for f in report.findings) or "its seal does not cover it"
        raise AuditError(f"archive {path} does not verify ({problems}); nothing purged")


def _anchor_after(records: list[ArchiveRecord]) -> Anchor:
    if not records:
        return GENESIS
    last = records[-1]
    return Anchor(last.last_seq, last.head_hash, f"the archive {last.file_name}")


def _archivable_upto(log: AuditLog, first_seq: int, cutoff: datetime) -> int:
    """The archived prefix ends before the first entry that is not older than the cutoff."""
    try:
        with log.engine.connect() as conn:
            recent = conn.execute(
                select(func.min(ENTRIES.c.seq)).where(
                    ENTRIES.c.seq >= first_seq, ENTRIES.c.time >= cutoff
                )
            ).scalar_one()
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit log: {exc}") from exc
    if recent is not None:
        return int(recent) - 1
    return head_row(log.engine)[0]


def _oldest_online(log: AuditLog) -> int | None:
    try:
        with log.engine.connect() as conn:
            value = conn.execute(select(func.min(ENTRIES.c.seq))).scalar_one()
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit log: {exc}") from exc
    return None if value is None else int(value)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
