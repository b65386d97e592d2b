"""What a zone build writes: the file (atomically, with its digest) and the result."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tldsec.atomicfile import replacing
from tldsec.zone.quarantine import Quarantined


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What ``build_zone_file`` wrote and how."""

    path: Path
    serial: int
    last_change_id: int
    incremental: bool
    reason: str  # why a full build, or how many changes were applied
    delegations: int
    signed_delegations: int
    glue_hosts: int
    orphan_hosts: int
    owners: int  # owners rewritten (incremental) or written (full)
    quarantined: tuple[Quarantined, ...] = ()  # objects withheld (zone.quarantine)
    newly_quarantined: tuple[Quarantined, ...] = ()  # ... since this build
    released: tuple[Quarantined, ...] = ()  # ... no longer, since this build


def write_atomic(path: Path, chunks: Iterable[bytes]) -> tuple[str, int]:
    """Write ``chunks`` to ``path`` through a temporary file and a rename; return the
    SHA-256 and size of what was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with replacing(path) as out:
        for chunk in chunks:
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
