"""Copies of every signed checkpoint outside the audit database ("anchors"), and the check
of the database against them.

Whoever can write the audit database and switch its triggers off (the SQLite file's
owner, a PostgreSQL superuser with ``session_replication_role = replica``) can delete
the newest entries *and* their checkpoints and rewind the head row: what is left is a
shorter chain, intact and signed. Only a copy of the checkpoints that person cannot
rewrite shows what the log once held (DPS 4.4.4, 4.4.5). Each signed checkpoint is
therefore published, after its transaction commits, to every configured anchor:

* ``FileAnchor``: one append-only JSON Lines file per UTC day in its own directory
  (0700), each line fsynced, a day's file made read-only (0400) once the next day's
  opens. Give the directory to another user or mark it ``chattr +a``: a file the
  database's owner can rewrite proves nothing against that owner.
* ``SyslogAnchor``: one line per checkpoint to syslog/journald (write-only: the log
  collector keeps the copy, ``verify`` cannot read it back).
* ``DatabaseWitness``: a second database (another host, another role), one insert per
  checkpoint into ``audit_witness_checkpoints``.
* ``HttpWitness``: a JSON POST of the checkpoint record to an HTTP(S) endpoint, which
  returns what it holds (JSON Lines) to a GET.

``compare_with_anchors`` (pure) names a rewind ("the log ends at 34; the checkpoint
file anchor of 2026-12-07T00:00:00Z says entry 45 existed") and a replaced entry.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import syslog
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from tldsec.audit.entry import Checkpoint, format_time
from tldsec.audit.report import Finding, FindingKind
from tldsec.audit.signing import verify_signature
from tldsec.db.types import UtcDateTime
from tldsec.errors import AuditError

_log = logging.getLogger(__name__)

FILE_PREFIX = "checkpoints-"
DIR_MODE = 0o700
OPEN_MODE = 0o600  # the day's file while it is being appended to
CLOSED_MODE = 0o400  # DPS 4.4.4: read-only once its day is over


class CheckpointAnchor(Protocol):
    """Somewhere outside the audit database that keeps a copy of every checkpoint."""

    @property
    def name(self) -> str: ...

    @property
    def readable(self) -> bool:
        """Whether ``verify`` can read the copies back."""
        ...

    def publish(self, checkpoint: Checkpoint) -> None:
        """Keep a copy; raise ``AuditError`` when it cannot."""
        ...

    def checkpoints(self) -> list[Checkpoint]:
        """Every copy kept; raise ``AuditError`` when they cannot be read."""
        ...

    def newest_seq(self) -> int | None:
        """The newest checkpoint's sequence number kept (cheap; for status and health)."""
        ...


def _line(checkpoint: Checkpoint) -> str:
    return json.dumps(checkpoint.to_record(), sort_keys=True, separators=(",", ":")) + "\n"


@dataclass(frozen=True, slots=True)
class FileAnchor:
    """Append-only per-day checkpoint files in ``directory``."""

    directory: Path

    @property
    def name(self) -> str:
        return f"checkpoint files {self.directory}"

    @property
    def readable(self) -> bool:
        return True

    def file_for(self, when: datetime) -> Path:
        return self.directory / f"{FILE_PREFIX}{when:%Y-%m-%d}.jsonl"

    def publish(self, checkpoint: Checkpoint) -> None:
        path = self.file_for(checkpoint.time)
        try:
            if not self.directory.exists():
                self.directory.mkdir(mode=DIR_MODE, parents=True)
                self.directory.chmod(DIR_MODE)  # mkdir's mode is filtered by the umask
            new = not path.exists()
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, OPEN_MODE)
            try:
                os.write(fd, _line(checkpoint).encode("ascii"))  # one write: one whole line
                os.fsync(fd)
            finally:
                os.close(fd)
            if new:
                _fsync_dir(self.directory)
                self.close_days_before(path)
        except OSError as exc:
            raise AuditError(
                f"cannot append checkpoint {checkpoint.seq} to {path}: {exc.strerror}"
            ) from exc

    def close_days_before(self, current: Path) -> None:
        """Make every earlier day's file read-only (0400): its day is over."""
        for path in self._files():
            if path.name < current.name and stat.S_IMODE(path.stat().st_mode) & 0o222:
                try:
                    path.chmod(CLOSED_MODE)
                except PermissionError:
                    # A directory another user owns (the point of it) closes its own files.
                    _log.warning("cannot make %s read-only: not its owner", path)

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"{FILE_PREFIX}*.jsonl"))

    def newest_seq(self) -> int | None:
        files = self._files()
        return max((cp.seq for cp in self._read(files[-1])), default=None) if files else None

    def checkpoints(self) -> list[Checkpoint]:
        return [cp for path in self._files() for cp in self._read(path)]

    def _read(self, path: Path) -> list[Checkpoint]:
        found: list[Checkpoint] = []
        try:
            text = path.read_text("ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise AuditError(f"cannot read the checkpoint file {path}: {exc}") from exc
        lines = text.split("\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                found.append(Checkpoint.from_record(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                if number == len(lines):  # the last line, cut by a crash mid-write
                    continue
                raise AuditError(f"{path} line {number} is not a checkpoint: {exc}") from exc
        return found


@dataclass(frozen=True, slots=True)
class SyslogAnchor:
    """One syslog line per checkpoint (``LOG_AUTHPRIV``); the collector keeps the copy."""

    ident: str = "tldsec-audit"

    @property
    def name(self) -> str:
        return "syslog"

    @property
    def readable(self) -> bool:
        return False

    def publish(self, checkpoint: Checkpoint) -> None:
        syslog.openlog(self.ident, syslog.LOG_PID, syslog.LOG_AUTHPRIV)
        syslog.syslog(syslog.LOG_NOTICE, "tldsec audit checkpoint " + _line(checkpoint).strip())

    def checkpoints(self) -> list[Checkpoint]:
        raise AuditError("syslog copies are read in the log collector, not by tldsec")

    def newest_seq(self) -> int | None:
        return None


WITNESS_METADATA = MetaData()
WITNESS = Table(
    "audit_witness_checkpoints",
    WITNESS_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", Integer, nullable=False, index=True),
    Column("head_hash", String(64), nullable=False),
    Column("time", UtcDateTime, nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("signature", String(128), nullable=False),
)


@dataclass(slots=True)
class DatabaseWitness:
    """A second database, on another host and under another role, that keeps copies."""

    engine: Engine
    description: str
    _ready: bool = field(default=False, repr=False)

    @property
    def name(self) -> str:
        return f"witness database {self.description}"

    @property
    def readable(self) -> bool:
        return True

    def _ensure(self) -> None:
        if not self._ready:
            WITNESS_METADATA.create_all(self.engine)
            self._ready = True

    def publish(self, checkpoint: Checkpoint) -> None:
        try:
            self._ensure()
            with self.engine.begin() as conn:
                conn.execute(
                    insert(WITNESS).values(
                        seq=checkpoint.seq,
                        head_hash=checkpoint.head_hash,
                        time=checkpoint.time,
                        key_id=checkpoint.key_id,
                        signature=checkpoint.signature.hex(),
                    )
                )
        except SQLAlchemyError as exc:
            raise AuditError(f"the {self.name} refused checkpoint {checkpoint.seq}: {exc}") from exc

    def checkpoints(self) -> list[Checkpoint]:
        try:
            self._ensure()
            with self.engine.connect() as conn:
                rows = conn.execute(select(WITNESS).order_by(WITNESS.c.id)).all()
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot read the {self.name}: {exc}") from exc
        return [
            Checkpoint(r.seq, r.head_hash, r.time, r.key_id, bytes.fromhex(r.signature))
            for r in rows
        ]

    def newest_seq(self) -> int | None:
        try:
            self._ensure()
            with self.engine.connect() as conn:
                value = conn.execute(select(func.max(WITNESS.c.seq))).scalar_one()
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot read the {self.name}: {exc}") from exc
        return None if value is None else int(value)

    def close(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True, slots=True)
class HttpWitness:
    """An HTTP(S) endpoint: POST one checkpoint record (JSON), GET every one (JSON Lines)."""

    url: str
    timeout: float = 5.0

    @property
    def name(self) -> str:
        return f"witness {self.url}"

    @property
    def readable(self) -> bool:
        return True

    def publish(self, checkpoint: Checkpoint) -> None:
        request = urllib.request.Request(
            self.url,
            data=_line(checkpoint).encode("ascii"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise AuditError(f"the {self.name} refused checkpoint {checkpoint.seq}: {exc}") from exc

    def checkpoints(self) -> list[Checkpoint]:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                body = response.read().decode("ascii")
        except (urllib.error.URLError, OSError, UnicodeDecodeError) as exc:
            raise AuditError(f"cannot read the {self.name}: {exc}") from exc
        try:
            return [Checkpoint.from_record(json.loads(x)) for x in body.splitlines() if x.strip()]
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(f"the {self.name} answered something else: {exc}") from exc

    def newest_seq(self) -> int | None:
        return max((cp.seq for cp in self.checkpoints()), default=None)


def publish_all(anchors: Sequence[CheckpointAnchor], checkpoint: Checkpoint) -> list[str]:
    """Publish to every anchor; the errors, one line each (the checkpoint is committed)."""
    errors: list[str] = []
    for anchor in anchors:
        try:
            anchor.publish(checkpoint)
        except AuditError as exc:
            errors.append(str(exc))
    return errors


def read_anchors(
    anchors: Iterable[CheckpointAnchor],
) -> tuple[list[tuple[str, list[Checkpoint]]], list[str]]:
    """The copies of each readable anchor, and why the others could not be read."""
    copies: list[tuple[str, list[Checkpoint]]] = []
    unreachable: list[str] = []
    for anchor in anchors:
        if not anchor.readable:
            unreachable.append(f"{anchor.name}: write-only (check it in the log collector)")
            continue
        try:
            copies.append((anchor.name, anchor.checkpoints()))
        except AuditError as exc:
            unreachable.append(f"{anchor.name}: {exc}")
    return copies, unreachable


def compare_with_anchors(
    copies: Sequence[tuple[str, Sequence[Checkpoint]]],
    *,
    keys: Mapping[str, Ed25519PublicKey],
    head_seq: int,
    oldest_online: int | None,
    hash_at: Callable[[Sequence[int]], Mapping[int, str]],
) -> list[Finding]:
    """Findings where the log contradicts a checkpoint an anchor kept (pure but for
    ``hash_at``, which returns the on-line hashes of the sequence numbers asked for).

    A checkpoint beyond the head is a rewind, named with the newest one; one whose entry
    is on-line with another hash is a replaced entry. Checkpoints of purged entries are
    the archives' business (``verify`` checks those separately).
    """
    findings: list[Finding] = []
    newest: tuple[Checkpoint, str] | None = None
    wanted: list[tuple[Checkpoint, str]] = []
    for name, cps in copies:
        for cp in cps:
            key = keys.get(cp.key_id)
            if key is None or not verify_signature(key, cp.signature, cp.message()):
                what = "untrusted key" if key is None else "invalid signature"
                findings.append(
                    Finding(
                        FindingKind.BAD_SIGNATURE if key else FindingKind.UNTRUSTED_KEY,
                        cp.seq,
                        None,
                        f"the {name} holds a checkpoint of {format_time(cp.time)} with an "
                        f"{what} (key {cp.key_id})",
                    )
                )
                continue
            if cp.seq > head_seq:
                if newest is None or cp.seq > newest[0].seq:
                    newest = (cp, name)
            elif oldest_online is not None and cp.seq >= oldest_online:
                wanted.append((cp, name))
    if newest is not None:
        cp, name = newest
        findings.append(
            Finding(
                FindingKind.REWOUND,
                head_seq + 1,
                cp.seq,
                f"the log ends at {head_seq}; the {name} holds a checkpoint of "
                f"{format_time(cp.time)} that says entry {cp.seq} existed "
                f"(hash {cp.head_hash[:16]}...): entries were removed and the head rewound",
            )
        )
    hashes = hash_at(sorted({cp.seq for cp, _ in wanted})) if wanted else {}
    reported: set[int] = set()
    for cp, name in wanted:
        have = hashes.get(cp.seq)
        if have != cp.head_hash and cp.seq not in reported:
            reported.add(cp.seq)
            findings.append(
                Finding(
                    FindingKind.REPLACED if have else FindingKind.DELETED,
                    cp.seq,
                    None,
                    f"the {name} holds a checkpoint of {format_time(cp.time)} for entry "
                    f"{cp.seq} with hash {cp.head_hash[:16]}...; the log "
                    + (f"has {have[:16]}..." if have else "does not have that entry"),
                )
            )
    return findings


def anchor_summary(copies: Sequence[tuple[str, Sequence[Checkpoint]]]) -> tuple[str, ...]:
    return tuple(
        f"{name}: {len(cps)} checkpoint{'s' if len(cps) != 1 else ''}"
        + (f", newest seq {max(c.seq for c in cps)}" if cps else "")
        for name, cps in copies
    )


def witness_for(url: str, make_engine: Callable[[str], Engine]) -> CheckpointAnchor:
    """The witness a ``[audit] witness_url`` names: HTTP(S), or a database URL."""
    if url.startswith(("http://", "https://")):
        return HttpWitness(url)
    return DatabaseWitness(make_engine(url), _without_password(url))


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        rest = f"{creds.split(':', 1)[0]}@{host}"
    return f"{scheme}{sep}{rest}"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def external(anchors: Iterable[CheckpointAnchor], home: Path) -> list[str]:
    """The anchors outside the home's reach: a witness, syslog, or a file directory
    that is not inside the home (status and /health warn when there is none)."""
    names: list[str] = []
    for anchor in anchors:
        if isinstance(anchor, FileAnchor):
            try:
                anchor.directory.resolve().relative_to(home.resolve())
                continue
            except ValueError:
                pass
        names.append(anchor.name)
    return names


@dataclass(frozen=True, slots=True)
class AnchorHealth:
    """The anchors by name, those out of the home's reach, and what to warn about."""

    anchors: tuple[str, ...]
    external: tuple[str, ...]
    warnings: tuple[str, ...]


def anchor_health(
    anchors: Sequence[CheckpointAnchor], *, home: Path, newest_checkpoint: int, error: str | None
) -> AnchorHealth:
    """For ``status`` and ``/health``: the anchors, whether one is outside the home, and
    warnings (no external anchor; an anchor behind the database's newest checkpoint)."""
    warnings: list[str] = []
    outside = external(anchors, home)
    if not outside:
        warnings.append(
            "no audit anchor outside the home: whoever owns the audit database and the home "
            "can rewind the log unnoticed; set [audit] witness_url, syslog = true, or an "
            "anchor_dir owned by another user (docs/audit.md)"
        )
    for anchor in anchors:
        if not anchor.readable:
            continue
        try:
            newest = anchor.newest_seq()
        except AuditError as exc:
            warnings.append(f"{anchor.name}: {exc}")
            continue
        if newest_checkpoint and (newest or 0) < newest_checkpoint:
            warnings.append(
                f"{anchor.name} holds checkpoints up to {newest or 0}, the log signed "
                f"{newest_checkpoint}: a copy was not written"
            )
    if error:
        warnings.append(f"the last copy failed: {error}")
    return AnchorHealth(tuple(a.name for a in anchors), tuple(outside), tuple(warnings))
