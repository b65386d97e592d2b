"""The files of one signed zone, and how a verified one is published.

A signed zone file ``OUT`` has, named after it and beside it:

    OUT.index      where each owner's block of lines lies (``signer.zoneindex``)
    OUT.unsigned   a copy of the unsigned input OUT was signed from
    OUT.patch      the byte ranges that changed from the zone OUT was patched from
                   (``dnscore.zonepatch``)
    OUT.sha256     the digest of the bytes the gate verified (``filedigest``)

and in its directory ``verify-state.json``, the gate's record of the last zone it
published there (``Verified``: kept here, decided on by ``verify.mode``). ``ZoneFiles``
names them; this is the one list of them. The signer writes the first three, the gate's
caller the last two; the distribution store (``distribute.store``) keeps them by serial,
moves them and prunes them.

Publication is ``staging`` (or ``stage``) then ``publish_verified``: a private copy of
the candidate in the target's directory, digested as it is made and forced to disk; the
gate (``verify.gate.judge``) verifies that copy and decides; if it passed, its digest
record, a rename over the target, an fsync of the directory and the verification record
(``Passed``, what the gate found). A reader sees the old zone or the new one, never a
part, and what is published is byte for byte what was verified (decisions 36, 71).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from tldsec.atomicfile import fsync_directory, replacing
from tldsec.dnscore.zonepatch import SUFFIX as PATCH
from tldsec.errors import ConfigError
from tldsec.filedigest import SUFFIX as DIGEST
from tldsec.filedigest import FileDigest, copy_digesting, save_record

INDEX = ".index"
UNSIGNED = ".unsigned"
SIDE_SUFFIXES = (PATCH, INDEX, UNSIGNED, DIGEST)
STATE_NAME = "verify-state.json"


@dataclass(frozen=True, slots=True)
class ZoneFiles:
    """A signed zone file and the files kept beside it."""

    zone: Path

    def _side(self, suffix: str) -> Path:
        return self.zone.with_name(self.zone.name + suffix)

    @property
    def index(self) -> Path:
        return self._side(INDEX)

    @property
    def unsigned(self) -> Path:
        return self._side(UNSIGNED)

    @property
    def patch(self) -> Path:
        return self._side(PATCH)

    @property
    def digest(self) -> Path:
        return self._side(DIGEST)

    @property
    def verify_state(self) -> Path:
        return self.zone.with_name(STATE_NAME)

    def sides(self) -> tuple[Path, ...]:
        return tuple(self._side(s) for s in SIDE_SUFFIXES)

    def remove_sides(self) -> None:
        for path in self.sides():
            path.unlink(missing_ok=True)


def copy_atomic(source: Path, target: Path) -> None:
    """Put ``source``'s bytes at ``target`` atomically: a hard link where the file system
    allows (the files it is used for are never modified in place, and the index's binding
    by size and modification time catches it if one is), a copy otherwise."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        os.unlink(tmp)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass(slots=True)
class Staged:
    """A private, digested copy of a candidate beside where it is to be published."""

    path: Path
    target: Path
    digest: FileDigest
    seconds: float = 0.0  # how long the copy took (the report's ``staging_seconds``)
    done: bool = False

    def publish(self) -> None:
        """The digest record, then the copy renamed over the target, made durable."""
        save_record(self.target, self.digest)
        os.chmod(self.path, 0o644)
        os.replace(self.path, self.target)
        self.done = True
        fsync_directory(self.target.parent)

    def discard(self) -> None:
        """Remove the copy if it was not published."""
        if not self.done:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.done = True


def stage(candidate: Path, target: Path) -> Staged:
    """A private copy of the candidate in the target's directory (same file system),
    forced to disk, and the digest of the bytes copied: those the gate then verifies."""
    t0 = time.perf_counter()
    if not candidate.exists():
        raise ConfigError(f"the signed zone {candidate} does not exist")
    if target.exists() and os.path.samefile(candidate, target):
        raise ConfigError(
            f"the candidate {candidate} is the published file itself: sign into another "
            "file and let the gate publish it"
        )
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise ConfigError(f"cannot publish to {target}: {directory} is not a directory")
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".verifying", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, open(candidate, "rb") as src:
            digest = copy_digesting(src, out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    return Staged(Path(name), target, digest, time.perf_counter() - t0)


@contextlib.contextmanager
def staging(candidate: Path, target: Path | None) -> Iterator[Staged | None]:
    """``stage`` the candidate beside ``target`` (nothing without a target); the copy is
    removed on leaving unless ``publish_verified`` published it."""
    staged = stage(candidate, target) if target is not None else None
    try:
        yield staged
    finally:
        if staged is not None:
            staged.discard()


# --- the gate's verification record (``verify-state.json``) -----------------------------

FORMAT = "tldsec-verify-state 1"


@dataclass(frozen=True, slots=True)
class Verified:
    """How the published zone file was verified (``verify.mode`` decides on it)."""

    zone_file: str  # its name in the publication directory
    size: int
    inode: int
    mtime_ns: int
    serial: int | None
    mode: str
    verified_at: str  # ISO 8601 UTC
    full_at: str  # the last full verification this one builds on
    since_full: int  # incremental verifications since then
    fingerprint: str
    cuttable: bool  # owners grouped, labels below the apex in canonical order
    sha256: str = ""  # of the published bytes (also in ``<zone>.sha256``)

    def describes(self, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        return (self.zone_file, self.size, self.inode, self.mtime_ns) == (
            path.name,
            st.st_size,
            st.st_ino,
            st.st_mtime_ns,
        )


def load_state(path: Path) -> Verified | None:
    try:
        body = json.loads(path.read_text("utf-8"))
        if body.pop("format") != FORMAT:
            return None
        return Verified(**body)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def save_state(path: Path, state: Verified) -> None:
    """Write atomically beside the published zone."""
    with replacing(path, "w", encoding="utf-8", fsync=False) as out:
        json.dump({"format": FORMAT, **asdict(state)}, out, indent=1)


@dataclass(frozen=True, slots=True)
class Passed:
    """What the gate found of a staged candidate that passed every check: what the
    verification record of its publication says (``verify.gate.judge`` builds it)."""

    mode: str  # "full" or "incremental" (``verify.mode``)
    builds_on: Verified | None  # the previous record, for an incremental run
    serial: int | None
    fingerprint: str  # what the unchanged bytes were verified against (``mode.fingerprint``)
    cuttable: bool  # the next run may cut the file at owners below the apex


def publish_verified(staged: Staged, passed: Passed, now: datetime) -> Verified:
    """Publish a staged copy the gate passed (``Staged.publish``), then write its
    verification record beside it: verified in ``passed.mode``, on top of
    ``passed.builds_on`` or in full."""
    staged.publish()
    published = staged.target
    st = published.stat()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    builds_on = passed.builds_on
    state = Verified(
        zone_file=published.name,
        size=st.st_size,
        inode=st.st_ino,
        mtime_ns=st.st_mtime_ns,
        serial=passed.serial,
        mode=passed.mode,
        verified_at=stamp,
        full_at=builds_on.full_at if builds_on else stamp,
        since_full=builds_on.since_full + 1 if builds_on else 0,
        fingerprint=passed.fingerprint,
        cuttable=passed.cuttable,
        sha256=staged.digest.sha256,
    )
    save_state(ZoneFiles(published).verify_state, state)
    return state
