"""Reconciliation: the unsigned zone holds exactly what the registry database holds
(DPS 6.6: nothing reaches the name servers that the registry did not say).

The builder's output is not trusted to reconcile itself. This module reads the registry
with its own queries and the unsigned zone file with its own line reader, and compares
the two as multisets of delegation records -- (owner, type, rdata) in a canonical form,
for NS, DS and glue A/AAAA; the apex (SOA, apex NS and their glue, from the settings)
is left out -- by an order-independent digest: the sum modulo 2^256 of each record's
SHA-256 (``Tally``). Equal sums and counts mean equal content; on a difference, a second
pass names the owners that differ.

``full`` compares the whole zone with the whole registry. ``owners`` compares the
records of some owners only (the names the registry changed since the last cycle, their
glue below them and the hosts they use), found in the file by bisection: what an
incremental cycle reads. ``file_sha256`` is the chain that binds the two: the cycle
records the digest of every unsigned file it built and reconciled, and refuses to build
on one that differs (``Cycle``).
"""

from __future__ import annotations

import hashlib
import mmap
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from tldsec.errors import ZoneSyntaxError
from tldsec.progress import Progress, ProgressFor
from tldsec.registry import zonedigest
from tldsec.registry.zonedigest import (
    MODULUS,
    Record,
    Tally,
    canonical,
    record_value,
    related_owners,
)
from tldsec.zone.blocks import ZoneFileBlocks

__all__ = ["MODULUS", "Record", "Tally", "canonical", "record_value", "related_owners"]

TYPES = frozenset({"NS", "DS", "A", "AAAA"})
PROGRESS_LINES = 4096  # zone file lines between two progress calls


@dataclass(frozen=True, slots=True)
class Apex:
    """The zone compared (its origin and registry id: only its rows count, decision 65)
    and what the registry does not decide, left out on both sides: the apex and its glue
    (from the settings), and the owners the builder withheld (``zone.quarantine``: their
    previously published records, or none, stand in for rows that break a rule)."""

    origin: str
    zone_id: int
    glue_owners: frozenset[str] = field(default_factory=frozenset)
    withheld: frozenset[str] = field(default_factory=frozenset)

    def excludes(self, owner: str) -> bool:
        return owner == self.origin or owner in self.glue_owners or owner in self.withheld


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The outcome: equal, or the owners that differ (the first few)."""

    registry: Tally
    zone: Tally
    differing: tuple[str, ...] = ()
    owners: int | None = None  # how many owners an ``owners`` run compared (None: full)

    @property
    def equal(self) -> bool:
        return self.registry == self.zone and not self.differing

    def describe(self) -> str:
        scope = "the whole zone" if self.owners is None else f"{self.owners} changed owners"
        if self.equal:
            return (
                f"{scope}: {self.zone.count:,} delegation records equal the registry's "
                f"(digest {self.zone.hex()[:16]})"
            )
        names = ", ".join(self.differing[:10]) or "(no single owner found)"
        return (
            f"{scope}: the unsigned zone holds {self.zone.count:,} delegation records, the "
            f"registry {self.registry.count:,}, and they differ at {names}"
        )


# --- the registry ------------------------------------------------------------------------


def registry_records(
    session: Session, apex: Apex, owners: set[str] | None = None
) -> Iterator[Record]:
    """Every delegation record the registry says the zone holds (only ``owners``' when
    given: absolute lower-case names), apart from what ``apex`` leaves out."""
    return zonedigest.registry_records(session, owners, apex.excludes, zone_id=apex.zone_id)


# --- the zone file ------------------------------------------------------------------------


def zone_records(lines: Iterable[bytes], apex: Apex, name: str) -> Iterator[Record]:
    """The delegation records of built zone file lines (``owner TTL IN TYPE RDATA``)."""
    for number, raw in enumerate(lines, 1):
        line = raw.decode("ascii", "replace").rstrip("\n")
        if not line or line.startswith(";"):
            continue
        parts = line.split(None, 4)
        if len(parts) != 5 or parts[2].upper() != "IN":
            raise ZoneSyntaxError(name, number, f"not an 'owner TTL IN TYPE RDATA' line: {line!r}")
        owner, _ttl, _cls, rtype, rdata = parts
        record = canonical(owner, rtype, rdata)
        if not apex.excludes(record[0]):
            yield record


def file_records(path: Path, apex: Apex, progress: Progress | None = None) -> Iterator[Record]:
    """The delegation records of the zone file; ``progress`` hears the bytes read."""
    with open(path, "rb") as f:
        lines: Iterable[bytes] = f
        if progress is not None:
            lines = _counted(f, os.fstat(f.fileno()).st_size, progress)
        yield from zone_records(lines, apex, str(path))


def _counted(lines: Iterable[bytes], total: int, progress: Progress) -> Iterator[bytes]:
    done = 0
    for number, line in enumerate(lines, 1):
        done += len(line)
        if number % PROGRESS_LINES == 0:
            progress(done, total)
        yield line
    progress(done, max(done, total))


def owner_records(path: Path, owners: Iterable[str], apex: Apex) -> Iterator[Record]:
    """The records of ``owners`` only, found by bisection (the file is in canonical order)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        blocks = ZoneFileBlocks(data, str(path))
        for owner in sorted(set(owners)):
            block = blocks.find(owner)
            text = data[block.start : block.end]
            yield from zone_records(text.splitlines(keepends=True), apex, str(path))


# --- comparing ----------------------------------------------------------------------------


def compare(
    registry: Iterable[Record], zone: Iterable[Record], owners: int | None
) -> Reconciliation:
    """Tally both sides; on a difference, name the owners whose records differ."""
    reg, zon = list(registry), list(zone)
    a, b = Tally(), Tally()
    for r in reg:
        a.add(r)
    for r in zon:
        b.add(r)
    if a == b:
        return Reconciliation(a, b, owners=owners)
    return Reconciliation(a, b, _differing(reg, zon), owners)


def full(
    session: Session, path: Path, apex: Apex, progress: ProgressFor | None = None
) -> Reconciliation:
    """The whole unsigned zone against the whole registry (one pass each, then a
    second, by owner, only on a difference); ``progress`` hears how far the file is read."""
    a, b = Tally(), Tally()
    for r in registry_records(session, apex):
        a.add(r)
    for r in file_records(path, apex, progress("zone file (bytes)") if progress else None):
        b.add(r)
    if a == b:
        return Reconciliation(a, b)
    return Reconciliation(
        a, b, _differing(registry_records(session, apex), file_records(path, apex))
    )


def owners(session: Session, path: Path, apex: Apex, changed: Iterable[str]) -> Reconciliation:
    """The records of the owners ``changed`` names can touch, in the zone and in the
    registry."""
    wanted = {o for o in related_owners(session, changed) if not apex.excludes(o)}
    return compare(
        registry_records(session, apex, wanted), owner_records(path, wanted, apex), len(wanted)
    )


def _differing(registry: Iterable[Record], zone: Iterable[Record]) -> tuple[str, ...]:
    by_owner: dict[str, int] = defaultdict(int)
    for r in registry:
        by_owner[r[0]] = (by_owner[r[0]] + record_value(r)) % MODULUS
    for r in zone:
        by_owner[r[0]] = (by_owner[r[0]] - record_value(r)) % MODULUS
    return tuple(sorted(o for o, v in by_owner.items() if v))


def file_sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb", buffering=0) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except FileNotFoundError:
        return None
    return h.hexdigest()
