"""The good copy of each SoftHSM2 token record: kept after every login, restored when lost.

SoftHSM2 2.6's file store rewrites a token's ``token.object`` in place at every login
(strace of a C_Login: open O_RDWR, POSIX write lock, ftruncate to 0, unlock, then the
new bytes when the stdio stream is closed). A process killed between the truncation and
the write leaves the file empty and the token unusable (``softhsm_store.damaged_tokens``).
So after each login tldsec keeps the record's bytes beside it, in ``token.object.tldsec-
good`` (a name SoftHSM2 ignores: only ``*.object`` files are its objects), and a token
found damaged is given that copy back, kept only if it opens with today's PIN
(``p11lib.find_token``; decision 81).

SoftHSM2's own lock does not cover its write (it unlocks before the buffered bytes reach
the file), so a copy is read under that lock (which waits out a truncation in progress)
twice, kept only if both reads are equal and the record parses whole with its label,
serial and user PIN. Every write here is atomic: a temporary file, fsync, rename, fsync
of the directory.
"""

from __future__ import annotations

import fcntl
import os
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tldsec.atomicfile import fsync_directory, replacing
from tldsec.hsm.softhsm_store import TOKEN_RECORD, damaged_tokens

GOOD_COPY = TOKEN_RECORD + ".tldsec-good"

# SoftHSM2's vendor attributes of token.object (src/lib/object_store/OSAttributes.h)
CKA_OS_TOKENLABEL = 0x80005349
CKA_OS_TOKENSERIAL = 0x8000534A
CKA_OS_TOKENFLAGS = 0x8000534B
CKA_OS_USERPIN = 0x8000534D
_BOOLEAN, _ULONG, _BYTESTRING = 1, 2, 3  # ObjectFile's attribute kinds
_COUNTER = 8  # the write counter SoftHSM2 2.6 puts first; it grows at every rewrite
_NEEDED = (CKA_OS_TOKENLABEL, CKA_OS_TOKENSERIAL, CKA_OS_TOKENFLAGS, CKA_OS_USERPIN)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What a whole ``token.object`` says of its token."""

    label: str  # CKA_OS_TOKENLABEL, its 32-byte padding stripped
    serial: str  # CKA_OS_TOKENSERIAL


@dataclass(frozen=True, slots=True)
class RecordRestored:
    """A token record given back from its good copy, and opened with the current PIN."""

    directory: Path  # the token directory
    copy_time: datetime  # when the copy was written (its mtime, UTC)

    def details(self) -> dict[str, str]:
        """The audit entry's details (``hsm.token_record_restored``)."""
        return {"token_directory": str(self.directory), "copy_time": self.copy_time.isoformat()}


@dataclass(frozen=True, slots=True)
class Restoration:
    """A restored record and the damaged state it replaced, to put back if it fails."""

    directory: Path
    copy_time: datetime
    found: bytes | None  # the record as found: None if missing, else its (empty) bytes

    @property
    def restored(self) -> RecordRestored:
        return RecordRestored(self.directory, self.copy_time)


def parse_record(data: bytes) -> TokenRecord | None:
    """The token a whole record names; None if it is cut short or lacks a needed attribute."""
    attributes: dict[int, bytes] = {}
    at = _COUNTER
    if len(data) < _COUNTER:
        return None
    while at < len(data):
        if at + 16 > len(data):
            return None
        kind_of, kind = struct.unpack_from(">QQ", data, at)
        at += 16
        if kind == _BOOLEAN:
            size = 1
        elif kind == _ULONG:
            size = 8
        elif kind == _BYTESTRING:
            if at + 8 > len(data):
                return None
            (size,) = struct.unpack_from(">Q", data, at)
            at += 8
        else:
            return None  # not a kind SoftHSM2 writes in a token record
        if at + size > len(data):
            return None
        attributes[kind_of] = data[at : at + size]
        at += size
    if any(a not in attributes for a in _NEEDED):
        return None
    try:
        label = attributes[CKA_OS_TOKENLABEL].decode("utf-8").rstrip(" ")
        serial = attributes[CKA_OS_TOKENSERIAL].decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return TokenRecord(label, serial)


def token_directory_of(tokens: Path, serial: str) -> Path | None:
    """The directory of the token with this serial: SoftHSM2 makes the serial of the
    last 16 hex digits of the directory's UUID name."""
    want = serial.strip().lower()
    if not want:
        return None
    try:
        found = [
            d
            for d in tokens.iterdir()
            if d.is_dir() and d.name.replace("-", "").lower().endswith(want)
        ]
    except OSError:
        return None
    return found[0] if len(found) == 1 else None


def keep_good_copy(directory: Path, label: str, serial: str) -> bool:
    """Copy the token record beside it if it is whole, names this token and differs
    from the copy there (the write counter aside); True if a copy was written.
    ``OSError`` if the directory cannot be read or written."""
    record = directory / TOKEN_RECORD
    first = _read_locked(record)
    second = _read_locked(record)
    if first != second:
        return False  # SoftHSM2 rewrote it meanwhile: the next login copies it
    parsed = parse_record(first)
    if parsed is None or parsed.label != label or parsed.serial != serial.strip():
        return False
    copy = directory / GOOD_COPY
    try:
        kept = copy.read_bytes()
    except FileNotFoundError:
        kept = b""
    if kept[_COUNTER:] == first[_COUNTER:] and parse_record(kept) is not None:
        return False
    _write_atomically(copy, first, os.stat(record))
    return True


def copies_for(conf: Path, label: str) -> tuple[list[tuple[Path, datetime]], list[str]]:
    """The damaged token directories whose good copy names this label, with the copy's
    time; and a note for each damaged directory whose copy is itself damaged."""
    found: list[tuple[Path, datetime]] = []
    notes: list[str] = []
    for directory in damaged_tokens(conf):
        copy = directory / GOOD_COPY
        try:
            data = copy.read_bytes()
            mtime = copy.stat().st_mtime
        except FileNotFoundError:
            continue
        except OSError as exc:
            notes.append(f"its good copy {copy} cannot be read ({exc.strerror})")
            continue
        parsed = parse_record(data)
        if parsed is None:
            notes.append(f"its good copy {copy} is damaged (not a whole token record): not used")
        elif parsed.label == label:
            found.append((directory, datetime.fromtimestamp(mtime, UTC)))
    return found, notes


def restore(directory: Path, copy_time: datetime) -> Restoration:
    """Put the good copy in place of the damaged record, atomically."""
    record = directory / TOKEN_RECORD
    copy = directory / GOOD_COPY
    try:
        found: bytes | None = record.read_bytes()
    except FileNotFoundError:
        found = None
    _write_atomically(record, copy.read_bytes(), os.stat(copy))
    return Restoration(directory, copy_time, found)


def undo(restoration: Restoration) -> None:
    """Put the damaged record back as it was found (missing, or its bytes)."""
    record = restoration.directory / TOKEN_RECORD
    if restoration.found is None:
        record.unlink(missing_ok=True)
        fsync_directory(restoration.directory)
        return
    _write_atomically(record, restoration.found, os.stat(restoration.directory / GOOD_COPY))


def _read_locked(record: Path) -> bytes:
    """The record's bytes, read under SoftHSM2's POSIX read lock on it. The lock is this
    process's: closing the file drops every lock the process holds on it, which is safe
    only because no Cryptoki call runs meanwhile (callers hold ``p11lib.calls()``)."""
    fd = os.open(record, os.O_RDONLY)
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes, like: os.stat_result) -> None:
    """``path`` holds ``data`` or its old bytes, never a part: same mode and owner as ``like``."""
    owner = (like.st_uid, like.st_gid)
    with replacing(path, permissions=like.st_mode & 0o7777, owner=owner) as out:
        out.write(data)
    fsync_directory(path.parent)
