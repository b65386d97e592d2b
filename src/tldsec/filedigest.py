"""Digests of published bytes: the SHA-256 of a whole zone file and of each of its blocks.

The verification gate records one for every zone it publishes (``<zone>.sha256`` beside
it, and in its report and audit event), computed while it copies the candidate it then
verifies, so the record describes exactly the bytes verified. Whatever later reuses
those bytes without verifying them again checks the file against the record first: the
incremental signer (through the cycle) before copying a byte or a signature from the
previous zone, the incremental gate before it compares only the edited ranges, and the
hidden primary before it loads or serves a serial. A file that differs from its record
(bit rot, an edit in place with its size and modification time restored) is never
reused; the block digests name where it differs.

``Checked`` remembers a file proved equal to its record together with its inode, size,
modification and status-change times: a second check in the same process on a file
whose status-change time (which user space cannot set back) has not moved since is
answered without reading it again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tldsec.atomicfile import replacing
from tldsec.errors import DigestMismatch

SUFFIX = ".sha256"
FORMAT = "tldsec-filedigest 1"
BLOCK_SIZE = 1 << 22  # 4 MiB: ~130 block digests for a 1M-delegation zone
_READ = 1 << 20


@dataclass(frozen=True, slots=True)
class FileDigest:
    """The SHA-256 of a file and of each ``block_size`` block of it, in hex."""

    sha256: str
    size: int
    block_size: int
    blocks: tuple[str, ...]

    def first_difference(self, other: FileDigest) -> str:
        """Where ``other`` (a file as it is now) differs from this record, in words."""
        if other.size != self.size:
            return f"its size is {other.size} bytes, the record says {self.size}"
        if other.block_size == self.block_size:
            for i, (mine, theirs) in enumerate(zip(self.blocks, other.blocks, strict=False)):
                if mine != theirs:
                    start = i * self.block_size
                    end = min(start + self.block_size, self.size)
                    return f"bytes {start}-{end} (block {i}) differ from the record"
        return "its SHA-256 differs from the record"

    def as_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "sha256": self.sha256,
            "size": self.size,
            "block_size": self.block_size,
            "blocks": list(self.blocks),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> FileDigest:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} record")
        sha, size, block = data["sha256"], data["size"], data["block_size"]
        blocks = data["blocks"]
        if not (
            isinstance(sha, str)
            and isinstance(size, int)
            and isinstance(block, int)
            and block > 0
            and isinstance(blocks, list)
            and all(isinstance(b, str) for b in blocks)
            and len(blocks) == -(-size // block)
        ):
            raise ValueError("a malformed digest record")
        return cls(sha, size, block, tuple(blocks))


class Digester:
    """Digests bytes fed in order: the whole and each block."""

    def __init__(self, block_size: int = BLOCK_SIZE) -> None:
        self.block_size = block_size
        self._whole = hashlib.sha256()
        self._block = hashlib.sha256()
        self._in_block = 0
        self._size = 0
        self._blocks: list[str] = []

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        self._whole.update(view)
        self._size += len(view)
        while len(view):
            take = min(len(view), self.block_size - self._in_block)
            self._block.update(view[:take])
            self._in_block += take
            view = view[take:]
            if self._in_block == self.block_size:
                self._blocks.append(self._block.hexdigest())
                self._block, self._in_block = hashlib.sha256(), 0

    def finish(self) -> FileDigest:
        blocks = list(self._blocks)
        if self._in_block:
            blocks.append(self._block.hexdigest())
        return FileDigest(self._whole.hexdigest(), self._size, self.block_size, tuple(blocks))


def copy_digesting(src: IO[bytes], out: IO[bytes]) -> FileDigest:
    """Copy ``src`` to ``out`` and return the digest of the bytes copied (one read)."""
    digester = Digester()
    buffer = bytearray(_READ)
    view = memoryview(buffer)
    while n := src.readinto(buffer):  # type: ignore[attr-defined]
        out.write(view[:n])
        digester.update(view[:n])
    return digester.finish()


def digest_file(path: Path, block_size: int = BLOCK_SIZE) -> FileDigest:
    digester = Digester(block_size)
    buffer = bytearray(_READ)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digester.update(view[:n])
    return digester.finish()


def record_path(zone_file: Path) -> Path:
    return zone_file.with_name(zone_file.name + SUFFIX)


def save_record(zone_file: Path, digest: FileDigest) -> None:
    """Write ``<zone>.sha256`` atomically (and durably: the primary relies on it)."""
    with replacing(record_path(zone_file), "w", encoding="utf-8", permissions=0o644) as out:
        json.dump(digest.as_json(), out, indent=1)
        out.write("\n")


def load_record(zone_file: Path) -> FileDigest | None:
    """The recorded digest of ``zone_file``; None when there is none or it is unreadable."""
    try:
        return FileDigest.from_json(json.loads(record_path(zone_file).read_text("utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class Checked:
    """A file proved equal to its record, and the stat that proof holds for."""

    path: str
    stat: tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns
    sha256: str

    def still(self, path: Path) -> bool:
        """Whether ``path`` is the same file, untouched since it was checked."""
        try:
            return str(path) == self.path and _stat(path) == self.stat
        except OSError:
            return False


def check_file(path: Path, *, seen: Checked | None = None) -> Checked:
    """Prove ``path`` equal to its ``<path>.sha256`` record; ``DigestMismatch`` saying
    where it differs (or that no record exists) otherwise."""
    if seen is not None and seen.still(path):
        return seen
    expected = load_record(path)
    if expected is None:
        raise DigestMismatch(f"{path} has no readable digest record ({record_path(path).name})")
    try:
        before = _stat(path)
        actual = digest_file(path, expected.block_size)
        after = _stat(path)
    except OSError as exc:
        raise DigestMismatch(f"cannot read {path}: {exc}") from exc
    if actual.sha256 != expected.sha256:
        raise DigestMismatch(f"{path}: {expected.first_difference(actual)}")
    if before != after:
        raise DigestMismatch(f"{path} changed while it was being checked")
    return Checked(str(path), after, actual.sha256)


def _stat(path: Path) -> tuple[int, int, int, int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
