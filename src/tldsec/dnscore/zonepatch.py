"""ZonePatch: how one signed zone file was made from the previous one, as byte ranges.

An incremental re-sign copies most of the previous signed file unchanged and replaces
only the owners it touched. It writes beside the new file ``<zone>.patch``, which says
which byte ranges of the previous file were replaced by which ranges of the new one;
every byte outside the edits is the same, in the same order. Each edit replaces whole
owner blocks (all records of a run of consecutive owners in canonical order) and whole
lines, so a reader can parse an edit's ranges on their own.

The patch is a hint, never trusted: the verifier compares the unchanged ranges byte for
byte and verifies the edited ones in full; the IXFR difference is read from the edited
ranges only. The format is JSON (a few thousand edits at most, readable by people).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tldsec.atomicfile import replacing
from tldsec.errors import TldsecError

FORMAT = "tldsec-zonepatch 1"
SUFFIX = ".patch"


class ZonePatchError(TldsecError):
    """A patch file that is missing, malformed, or does not fit the files it names."""


@dataclass(frozen=True, slots=True)
class Edit:
    """Bytes ``old_start:old_end`` of the previous file became ``new_start:new_end``."""

    old_start: int
    old_end: int
    new_start: int
    new_end: int


@dataclass(frozen=True, slots=True)
class Same:
    """``length`` bytes copied unchanged from ``old_start`` to ``new_start``."""

    old_start: int
    new_start: int
    length: int


@dataclass(frozen=True, slots=True)
class ZonePatch:
    """The edits from ``previous`` (a file name, informational) to the new file."""

    previous: str
    previous_size: int
    size: int
    edits: tuple[Edit, ...]

    def __post_init__(self) -> None:
        old = new = 0
        for i, e in enumerate(self.edits):
            if not (old <= e.old_start <= e.old_end and new <= e.new_start <= e.new_end):
                raise ZonePatchError(f"edit {i} overlaps or precedes the one before it")
            if e.old_start - old != e.new_start - new:
                raise ZonePatchError(f"edit {i}: the unchanged bytes before it differ in length")
            old, new = e.old_end, e.new_end
        if old > self.previous_size or new > self.size:
            raise ZonePatchError("an edit runs past the end of its file")
        if self.previous_size - old != self.size - new:
            raise ZonePatchError("the unchanged bytes after the last edit differ in length")

    def unchanged(self) -> Iterator[Same]:
        """The ranges copied unchanged, in order (empty ones left out)."""
        old = new = 0
        for e in self.edits:
            if e.old_start > old:
                yield Same(old, new, e.old_start - old)
            old, new = e.old_end, e.new_end
        if self.previous_size > old:
            yield Same(old, new, self.previous_size - old)

    @property
    def changed_bytes(self) -> int:
        return sum(e.new_end - e.new_start for e in self.edits)

    def save(self, path: Path) -> None:
        """Write atomically."""
        body = {
            "format": FORMAT,
            "previous": self.previous,
            "previous_size": self.previous_size,
            "size": self.size,
            "edits": [[e.old_start, e.old_end, e.new_start, e.new_end] for e in self.edits],
        }
        with replacing(path, "w", encoding="utf-8", fsync=False) as out:
            json.dump(body, out, separators=(",", ":"))

    @classmethod
    def load(cls, path: Path) -> ZonePatch:
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ZonePatchError(f"{path}: cannot read the zone patch: {exc}") from exc
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ZonePatchError(f"{path}: not a {FORMAT} file")
        try:
            edits = tuple(Edit(*map(int, e)) for e in body["edits"])
            return cls(str(body["previous"]), int(body["previous_size"]), int(body["size"]), edits)
        except (KeyError, TypeError, ValueError) as exc:
            raise ZonePatchError(f"{path}: malformed zone patch: {exc}") from exc


def patch_path(zone_file: Path) -> Path:
    return zone_file.with_name(zone_file.name + SUFFIX)


def load_for(zone_file: Path, previous: Path) -> ZonePatch | None:
    """The patch beside ``zone_file`` if it describes the step from ``previous`` to it
    (names and sizes match), else None."""
    path = patch_path(zone_file)
    if not path.exists():
        return None
    patch = ZonePatch.load(path)
    try:
        sizes = (previous.stat().st_size, zone_file.stat().st_size)
    except OSError:
        return None
    if patch.previous != previous.name or (patch.previous_size, patch.size) != sizes:
        return None
    return patch
