"""A period export that verifies with only the public key (DPS 4.4.4, 7).

``tldsec audit export --since T1 --until T2`` selects a stretch of the chain by time.
Without more it would carry no checkpoint vouching for its end and would verify as
``unsigned``. So a period export is written like an archive: a header with the chain
link into the period (the hash of the entry before it), the entries, the checkpoints
inside it, and a seal the audit key signs over the period's last entry and its start.
The log is verified first, as ``tldsec audit verify`` verifies it (chain, checkpoints,
anchors, and the archives against the home's archive retention: DPS 4.4.3, decision 80),
so a seal never vouches for tampered entries nor for a log whose archives went before
their time; the export itself is recorded (``audit.exported``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from tldsec.audit.anchors import CheckpointAnchor
from tldsec.audit.entry import GENESIS_HASH, Checkpoint, checkpoint_message, format_time
from tldsec.audit.log import AuditLog
from tldsec.audit.models import ENTRIES
from tldsec.audit.query import EntryFilter, iter_entries, load_checkpoints
from tldsec.audit.sources import ARCHIVE_FORMAT
from tldsec.audit.verification import verify_database
from tldsec.errors import AuditError


@dataclass(frozen=True, slots=True)
class PeriodExport:
    """What was written: the sequence numbers of the period, and how many entries."""

    first_seq: int
    last_seq: int
    entries: int


def period_range(log: AuditLog, since: datetime | None, until: datetime | None) -> tuple[int, int]:
    """The first and last sequence numbers of the entries at or after ``since`` and
    before ``until`` (time order follows sequence order: the writer reads the clock
    under the log's lock)."""
    c = ENTRIES.c
    query = select(func.min(c.seq), func.max(c.seq))
    if since is not None:
        query = query.where(c.time >= since)
    if until is not None:
        query = query.where(c.time < until)
    try:
        with log.engine.connect() as conn:
            first, last = conn.execute(query).one()
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit log: {exc}") from exc
    if first is None:
        raise AuditError("no audit entry falls in that period")
    return int(first), int(last)


def write_period_export(
    log: AuditLog,
    out: TextIO,
    *,
    first_seq: int,
    last_seq: int,
    keys: Mapping[str, Ed25519PublicKey],
    archive_dir: Path,
    archive_retention: timedelta,
    anchors: Sequence[CheckpointAnchor] = (),
) -> PeriodExport:
    """Verify the log, then write entries ``first_seq..last_seq`` sealed (see above).

    ``archive_retention`` is the home's (``audit/retention.audit_retention``), as ``tldsec
    audit verify`` checks the archives in ``archive_dir`` with."""
    signer = log.signer
    if signer is None:
        raise AuditError("no audit key configured: a period export cannot be sealed")
    now = log.clock.now()
    checked = verify_database(
        log.engine,
        keys,
        now=now,
        anchors=anchors,
        archive_dir=archive_dir,
        archive_retention=archive_retention,
    )
    if not checked.report.ok:
        raise AuditError(
            "the audit log does not verify, so the period is not sealed: "
            f"{checked.report.findings[0]} (run 'tldsec audit verify')"
        )
    prev_hash = _hash_before(log, first_seq)

    def emit(record: Mapping[str, object]) -> None:
        out.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")

    emit(
        {
            "record": "archive",
            "format": ARCHIVE_FORMAT,
            "version": 1,
            "kind": "period-export",
            "first_seq": first_seq,
            "last_seq": last_seq,
            "prev_hash": prev_hash,
            "created": format_time(now),
        }
    )
    n = 0
    last_hash = None
    for entry in iter_entries(log.engine, EntryFilter(from_seq=first_seq, to_seq=last_seq)):
        emit(entry.to_record())
        last_hash = entry.hash
        n += 1
    if last_hash is None or n != last_seq - first_seq + 1:
        raise AuditError(f"entries {first_seq}-{last_seq} are not all on-line; nothing sealed")
    for cp in load_checkpoints(log.engine, first_seq, last_seq):
        emit(cp.to_record())
    start = (first_seq - 1, prev_hash)
    message = checkpoint_message(last_seq, last_hash, now, start)
    emit(
        Checkpoint(last_seq, last_hash, now, signer.key_id, signer.sign(message), start).to_record()
    )
    return PeriodExport(first_seq, last_seq, n)


def _hash_before(log: AuditLog, first_seq: int) -> str:
    """The chain link into the period: the hash of the entry before it."""
    if first_seq == 1:
        return GENESIS_HASH
    try:
        with log.engine.connect() as conn:
            value = conn.execute(
                select(ENTRIES.c.prev_hash).where(ENTRIES.c.seq == first_seq)
            ).scalar_one_or_none()
    except SQLAlchemyError as exc:
        raise AuditError(f"cannot read the audit log: {exc}") from exc
    if value is None:
        raise AuditError(f"entry {first_seq} is not on-line")
    return str(value)
