"""Each zone's own directory in the home (decision 57), and the move of a one-zone home.

A home of several zones keeps each zone's cycle files under ``zones/NAME/`` (``NAME``
the origin without its dot)::

    zones/NAME/cycle.json, last-report.json, reports/, work/   the cycle's own
    zones/NAME/replicas.json                                     its keys proven on each HSM
    zones/NAME/dist/                                             its distribution store
    zones/NAME/quarantine.json                                   what the builder withholds

A home made before keeps them directly in ``zones/``. ``move_into_zone_dir`` moves them
into ``zones/NAME/`` by ``rename(2)`` within the one file system, so that every file
keeps its inode and its mtime (which ``verify-state.json`` records: the gate does not
re-verify in full and the cycle does not re-sign), under the store's ``.lock`` so that
no cycle writes meanwhile. It is idempotent, and a move cut short is finished by the
next call. ``tldsec db upgrade`` calls it (``cli/db.py``); a cycle refuses to run on a
home still in the old layout (``cycle/open.py``), since it would start a new zone there.
A store named by ``[distribute] store_dir`` without ``{zone}`` stays where it is.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from tldsec.atomicfile import fsync_directory
from tldsec.errors import ConfigError, DistributionError

# What a one-zone home keeps directly in zones/, moved in this order (the store last).
LEGACY = (
    "cycle.json",
    "last-report.json",
    "quarantine.json",
    "replicas.json",
    "reports",
    "work",
    "dist",
)
STORE = "dist"  # the store, when it is the zone's (``[distribute] store_dir`` has {zone})
STORE_LOCK = ".lock"  # distribute/store.py's writer lock, in the store directory


def zone_dir_name(origin: str) -> str:
    """``example.`` -> ``example``: the zone's directory and ``[zones.NAME]`` table."""
    name = origin.lower().rstrip(".")
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"{origin!r} cannot name a zone directory")
    return name


@dataclass(frozen=True, slots=True)
class ZoneHome:
    """The paths of one zone's directory under the home's ``zones/``."""

    zones_dir: Path
    origin: str

    @property
    def root(self) -> Path:
        return self.zones_dir / zone_dir_name(self.origin)

    @property
    def cycle_state(self) -> Path:
        return self.root / "cycle.json"

    @property
    def last_report(self) -> Path:
        return self.root / "last-report.json"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine.json"


def _is_zone_dir(path: Path) -> bool:
    """Whether ``path`` is already a zone's directory (a zone named like a legacy entry,
    such as the TLD ``work``, after its move): it holds what the move puts there."""
    return path.is_dir() and any((path / entry).exists() for entry in LEGACY)


def legacy_entries(zones_dir: Path, origin: str, *, with_store: bool = True) -> list[str]:
    """What a one-zone home still keeps directly in ``zones_dir``, to be moved; without
    ``with_store``, ``dist`` is not among them (a store the settings name stays)."""
    name = zone_dir_name(origin)
    found: list[str] = []
    for entry in LEGACY:
        if entry == STORE and not with_store:
            continue
        path = zones_dir / entry
        if not (path.exists() or path.is_symlink()):
            continue
        if entry == name and _is_zone_dir(path):
            continue
        found.append(entry)
    return found


def move_into_zone_dir(zones_dir: Path, origin: str, *, store: Path | None = None) -> list[str]:
    """Move a one-zone home's ``zones/{cycle.json,...,dist}`` into ``zones/NAME/``; the
    names moved (none: already done). Refused while a cycle holds the store's lock, and
    where ``zones/NAME`` is something else already. ``store``: a store the settings name
    outside the zone (``store_dir`` without ``{zone}``): it is not moved, its lock is
    the one held."""
    entries = legacy_entries(zones_dir, origin, with_store=store is None)
    stage = zones_dir / f".moving-{zone_dir_name(origin)}"  # a move cut short left it
    if not entries and not stage.is_dir():
        return []
    target = ZoneHome(zones_dir, origin).root
    if (target.exists() or target.is_symlink()) and target.name not in entries:
        raise ConfigError(
            f"{target} exists and {', '.join(entries)} are still in {zones_dir}: move them "
            f"into {target} by hand (same file system: mv), then run the command again"
        )
    lock_fd = _hold_store_lock(zones_dir / STORE if store is None else store)
    try:
        stage.mkdir(exist_ok=True)
        for entry in entries:  # the same file system: rename(2) keeps inodes and mtimes
            try:
                os.rename(zones_dir / entry, stage / entry)
            except OSError as exc:
                raise ConfigError(
                    f"cannot move {zones_dir / entry} to {stage / entry}: {exc.strerror}; "
                    f"{zones_dir} must be one file system"
                ) from exc
        fsync_directory(stage)
        os.rename(stage, target)
        fsync_directory(zones_dir)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    return entries


def move_store(old: Path, new: Path) -> bool:
    """Move a store kept outside ``zones_dir`` (the default ``zones/dist`` of a home whose
    ``[zone] zones_dir`` is another directory) to its new place ``new`` by ``rename(2)``,
    under its lock; whether it moved (not where ``new`` exists or ``old`` does not)."""
    if not old.is_dir() or new.exists() or new.is_symlink():
        return False
    lock_fd = _hold_store_lock(old)
    try:
        new.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(old, new)
        except OSError as exc:
            raise ConfigError(
                f"cannot move {old} to {new}: {exc.strerror}; move it by hand (same file "
                "system: mv), then run the command again"
            ) from exc
        fsync_directory(new.parent)
        fsync_directory(old.parent)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    return True


def _hold_store_lock(store: Path) -> int | None:
    """The store's writer lock, taken without waiting; None where there is no store."""
    if not store.is_dir():
        return None
    fd = os.open(store / STORE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise DistributionError(
            f"a cycle holds {store / STORE_LOCK}: stop 'tldsec serve' (or wait for the "
            "cycle) and run the command again"
        ) from exc
    return fd
