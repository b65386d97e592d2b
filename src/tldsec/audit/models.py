"""The audit database's tables, on a DeclarativeBase of their own.

The audit log lives in its own database (``[database] audit_url``), with its own Alembic
environment (``tldsec/db/migrations/audit``); a separate ``AuditBase`` keeps its metadata
free of the signer's and the registry's tables. The migration, not this module, creates
the triggers that make ``audit_entries``, ``audit_checkpoints`` and ``audit_archives``
append-only (docs/audit.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, Integer, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tldsec.db.types import UtcDateTime as UTCDateTime

# SQLite makes only "INTEGER PRIMARY KEY" the rowid; PostgreSQL needs 64 bits.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class AuditBase(DeclarativeBase):
    """The tables of the audit database, and only those."""


class AuditEntryRow(AuditBase):
    """One entry of the hash chain (DPS 4.4.1: time, identity, sequence, type, level)."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(140), index=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    level: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The zone the entry concerns (issue 19); NULL: installation-wide, or written before.
    zone: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)


class AuditHeadRow(AuditBase):
    """The single row writers lock to take the next sequence number (id is always 1).

    ``seq``/``hash``/``time`` are the last entry's; ``clock_state`` the last recorded
    kernel clock state; ``checkpoint_seq``/``checkpoint_time`` the last checkpoint's.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(SeqType)
    hash: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    clock_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    checkpoint_seq: Mapped[int] = mapped_column(SeqType)
    checkpoint_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditCheckpointRow(AuditBase):
    """An Ed25519 signature by the audit key over (seq, head hash, time)."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    head_hash: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(128))


class AuditArchiveRow(AuditBase):
    """A signed archive file holding entries ``first_seq..last_seq`` (DPS 4.4.3)."""

    __tablename__ = "audit_archives"

    last_seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    first_seq: Mapped[int] = mapped_column(SeqType)
    prev_hash: Mapped[str] = mapped_column(String(64))
    head_hash: Mapped[str] = mapped_column(String(64))
    newest_time: Mapped[datetime] = mapped_column(UTCDateTime)
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(32))


# The Core tables, typed as such, for the writer's and the reader's statements.
ENTRIES = cast(Table, AuditEntryRow.__table__)
HEAD = cast(Table, AuditHeadRow.__table__)
CHECKPOINTS = cast(Table, AuditCheckpointRow.__table__)
ARCHIVES = cast(Table, AuditArchiveRow.__table__)
