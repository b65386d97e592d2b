"""The distribution store: verified signed zones by serial, the IXFR differences between
consecutive serials, and the pointer to the serial being distributed.

One directory per zone:

    <serial>.zone             a verified signed zone (the gate publishes it here)
    <serial>.zone.index, .unsigned, .patch, .sha256
                              its side files (``zonefiles.ZoneFiles``): the index and input
                              copy the next cycle patches this zone from (instead of
                              signing in full), the byte ranges that changed from the
                              previous serial's file (the IXFR difference is read from
                              those ranges only), and the digest of the bytes the gate
                              verified: the primary serves, and the next cycle reuses,
                              only a zone that still matches it
    verify-state.json         the gate's record of the zone it published last
    <from>-<to>.ixfr          the difference between two consecutive serials (RFC 1995),
                              with its digest (``.ixfr.sha256``) written beside it
    current                   the serial being distributed: the commit point
    .lock                     held by the one writer (a cycle) at a time

The store owns these files: the gate stages and publishes a candidate under its serial
(``stage_path``, ``zonefiles.stage``), ``publish`` gives it the candidate's side files
and commits it, and ``cleanup`` and ``prune`` remove them together.

The signing side pushes (DPS 5.6): a cycle stages the verified file under its serial,
then ``commit`` writes the difference and moves ``current`` with one atomic rename.
The primary only reads this directory. Whatever instant a writer dies at, ``current``
names a complete, verified zone; ``cleanup`` (run by the next writer, under the lock)
removes what a dead writer left half done. Serials only move forward (RFC 1982).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from tldsec.atomicfile import fsync_directory, replacing
from tldsec.distribute.ixfr import ZoneDiff, diff_files, diff_patched, read_diff, write_diff
from tldsec.dnscore.zonepatch import ZonePatchError, load_for
from tldsec.errors import DistributionError, ZoneSyntaxError
from tldsec.filedigest import SUFFIX as DIGEST_SUFFIX
from tldsec.filedigest import digest_file, record_path, save_record
from tldsec.signer.zoneindex import ZoneIndex, file_stat
from tldsec.zonefiles import SIDE_SUFFIXES, ZoneFiles, copy_atomic

log = logging.getLogger(__name__)

CURRENT = "current"
LOCK = ".lock"
_ZONE = re.compile(r"(\d{1,10})\.zone\Z")
_DIFF = re.compile(r"(\d{1,10})-(\d{1,10})\.ixfr\Z")
_SERIAL_HALF = 2**31


def serial_gt(a: int, b: int) -> bool:
    """``a`` is newer than ``b`` in serial number arithmetic (RFC 1982 3.2)."""
    return a != b and ((a - b) & 0xFFFFFFFF) < _SERIAL_HALF


class Publisher(Protocol):
    """Where a cycle hands its verified zone: stage under the serial, then commit once."""

    def stage_path(self, serial: int) -> Path: ...

    def commit(self, serial: int) -> ZoneDiff | None: ...


class ZoneStore:
    """The store directory of one zone."""

    def __init__(self, directory: Path, origin: str, keep: int = 10) -> None:
        if keep < 2:
            raise ValueError("the store keeps at least two serials (one to diff against)")
        self.directory = directory
        self.origin = origin if origin.endswith(".") else origin + "."
        self.keep = keep

    # --- reading (the primary, status) -------------------------------------------------

    def current(self) -> int | None:
        """The serial being distributed, or None before the first commit."""
        try:
            text = (self.directory / CURRENT).read_text("ascii").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DistributionError(f"cannot read {self.directory / CURRENT}: {exc}") from exc
        if not text.isdigit():
            raise DistributionError(f"{self.directory / CURRENT} holds {text[:20]!r}, no serial")
        return int(text)

    def zone_path(self, serial: int) -> Path:
        return self.directory / f"{serial}.zone"

    def files(self, serial: int) -> ZoneFiles:
        """The zone file of ``serial`` and the files beside it."""
        return ZoneFiles(self.zone_path(serial))

    def current_path(self) -> Path | None:
        serial = self.current()
        return None if serial is None else self.zone_path(serial)

    def diff_path(self, from_serial: int, to_serial: int) -> Path:
        return self.directory / f"{from_serial}-{to_serial}.ixfr"

    def diffs(self) -> dict[int, int]:
        """Every stored difference as from-serial -> to-serial."""
        out: dict[int, int] = {}
        for path in self._listing():
            m = _DIFF.match(path.name)
            if m:
                out[int(m.group(1))] = int(m.group(2))
        return out

    def chain(self, from_serial: int, to_serial: int) -> list[tuple[int, int]] | None:
        """The differences leading from ``from_serial`` to ``to_serial``, or None when the
        history does not reach back that far."""
        steps = self.diffs()
        chain: list[tuple[int, int]] = []
        at = from_serial
        while at != to_serial:
            nxt = steps.get(at)
            if nxt is None or len(chain) > len(steps):
                return None
            chain.append((at, nxt))
            at = nxt
        return chain

    def read_diff(self, from_serial: int, to_serial: int) -> ZoneDiff:
        return read_diff(self.diff_path(from_serial, to_serial))

    def serials(self) -> list[int]:
        """The zone files kept, newest first."""
        found = [int(m.group(1)) for p in self._listing() if (m := _ZONE.match(p.name))]
        now = self.current()
        if now is None:
            return sorted(found, reverse=True)
        return sorted(found, key=lambda s: (now - s) & 0xFFFFFFFF)

    # --- writing (the cycle) --------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self, *, wait: bool = True) -> Iterator[None]:
        """Hold the store's lock; one writer at a time, across processes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError as exc:
                raise DistributionError(
                    f"another cycle holds {self.directory / LOCK}; try again when it is done"
                ) from exc
            self.cleanup()
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def stage_path(self, serial: int) -> Path:
        """Where the verification gate publishes the candidate of ``serial``."""
        current = self.current()
        if current is not None and not serial_gt(serial, current):
            raise DistributionError(
                f"serial {serial} is not newer than the distributed serial {current} "
                "(RFC 1982): serials never go backwards"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.zone_path(serial)

    def commit(
        self, serial: int, *, patch_checked: bool = False, diff: bool = True
    ) -> ZoneDiff | None:
        """Distribute the staged ``serial``: its difference from the current serial, then
        the pointer. Returns the difference (None for the first serial, or when the
        previous zone file is gone).

        The difference comes from ``<serial>.zone.patch`` when one is staged for the step
        from the current file, else from the two whole files. ``patch_checked``: the
        caller (the verification gate) has compared the bytes outside the patch's edits
        already; otherwise ``diff_patched`` compares them. ``diff=False``: the current
        file is not to be read (it differs from what was verified): no difference is
        written, and secondaries behind take the whole zone (RFC 1995 4)."""
        path = self.zone_path(serial)
        if not path.exists():
            raise DistributionError(f"{path} is not staged: nothing to commit")
        previous = self.current()
        if previous is not None and not serial_gt(serial, previous):
            raise DistributionError(
                f"serial {serial} is not newer than {previous}: serials never go backwards"
            )
        found: ZoneDiff | None = None
        old = None if previous is None or not diff else self.zone_path(previous)
        if old is not None and old.exists():
            found = self._difference(old, path, check_unchanged=not patch_checked)
            written = self.diff_path(found.from_serial, serial)
            write_diff(found, written)
            # The primary serves IXFR from this file: it checks it against this first.
            save_record(written, digest_file(written))
        _write_atomic(self.directory / CURRENT, f"{serial}\n")
        self.prune()
        return found

    def publish(
        self, serial: int, candidate: Path, *, patch_checked: bool = False, diff: bool = True
    ) -> ZoneDiff | None:
        """Distribute the staged ``serial``, which the gate verified as a byte copy of
        ``candidate``: give it the candidate's side files, ``commit`` it, then remove the
        candidate and its side files."""
        _carry_sides(candidate, self.zone_path(serial))
        found = self.commit(serial, patch_checked=patch_checked, diff=diff)
        remove_candidate(candidate)
        return found

    def _difference(self, old: Path, new: Path, *, check_unchanged: bool) -> ZoneDiff:
        """From the staged patch when it fits, else from the whole files (RFC 1995 4)."""
        try:
            patch = load_for(new, old)
            if patch is not None:
                return diff_patched(old, new, patch, self.origin, check_unchanged=check_unchanged)
        except ZonePatchError as exc:
            log.warning("%s; the IXFR difference is computed from the whole files", exc)
        return diff_files(old, new, self.origin)

    def cleanup(self) -> list[Path]:
        """Remove what a writer that died left: temporary files, and zones and
        differences newer than ``current`` (staged, never committed)."""
        current = self.current()
        removed: list[Path] = []
        for path in self._listing():
            name = path.name
            stale = name.startswith(".") and name != LOCK
            base = name
            for suffix in SIDECAR_SUFFIXES:
                base = base.removesuffix(suffix)
            m, d = _ZONE.match(base), _DIFF.match(name.removesuffix(DIGEST_SUFFIX))
            if m and (current is None or serial_gt(int(m.group(1)), current)):
                stale = True
            if d and (current is None or serial_gt(int(d.group(2)), current)):
                stale = True
            if stale:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                removed.append(path)
        if removed:
            log.info(
                "store %s: removed %d leftovers of an unfinished cycle",
                self.directory,
                len(removed),
            )
        return removed

    def prune(self) -> None:
        """Keep the ``keep`` newest zone files and differences."""
        current = self.current()
        if current is None:
            return

        def age(serial: int) -> int:
            return (current - serial) & 0xFFFFFFFF

        zones = self.serials()
        for serial in zones[self.keep :]:
            zone = self.zone_path(serial)
            for path in (zone, *(zone.with_name(zone.name + s) for s in SIDECAR_SUFFIXES)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        diffs = sorted(self.diffs().items(), key=lambda d: age(d[1]))
        for frm, to in diffs[self.keep :]:
            for path in (self.diff_path(frm, to), record_path(self.diff_path(frm, to))):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def _listing(self) -> list[Path]:
        try:
            return list(self.directory.iterdir())
        except FileNotFoundError:
            return []


# Files kept beside a zone file, named after it (the signer's and the gate's), and the
# signature cache that versions before decisions.md 39 kept there: pruned with its zone.
SIDECAR_SUFFIXES = (".sigcache", *SIDE_SUFFIXES)


def _carry_sides(signed: Path, published: Path) -> None:
    """Give ``published`` (a verified byte copy of ``signed``) the files the next run
    reads beside it: the input copy, the index (bound to the copy now) and the patch.
    A side file that does not describe ``signed`` is left behind."""
    source, target = ZoneFiles(signed), ZoneFiles(published)
    if source.patch.exists():
        copy_atomic(source.patch, target.patch)
    index = ZoneIndex.load_for(signed)
    if index is None or file_stat(published)[0] != index.signed[0]:
        target.index.unlink(missing_ok=True)
        return
    copy_atomic(source.unsigned, target.unsigned)
    index.signed = file_stat(published)
    index.unsigned = file_stat(target.unsigned)
    index.save(target.index)


def remove_candidate(candidate: Path) -> None:
    """A candidate zone file and the files beside it, gone."""
    ZoneFiles(candidate).remove_sides()
    candidate.unlink(missing_ok=True)


def _write_atomic(path: Path, text: str) -> None:
    with replacing(path, "w", encoding="ascii") as out:
        out.write(text)
    fsync_directory(path.parent)  # the rename itself made durable


__all__ = ["Publisher", "ZoneDiff", "ZoneStore", "ZoneSyntaxError", "serial_gt"]
