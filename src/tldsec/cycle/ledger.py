"""The unsigned zone against the registry's own digest of it (DPS 6.6; decision 42).

The registry keeps, in the transaction of every change, a digest per owner of what the
zone must hold there and the change's delta on its ``zone_change`` row
(``registry/zonedigest``). The cycle keeps a ``Position``: the running sum of those
deltas up to the changes the last reconciled build included, and the digest of that
build's file. Each cycle then proves, from the zone's bytes and not the builder's word:

* the zone's side: every delegation record of the file (whole file in full mode; in
  incremental mode the previous sum, minus the old file's records at the owners the
  builder rewrote, plus the new file's -- after checking that every byte outside those
  owners is the old file's), with what the builder withheld or the settings own (apex
  glue, quarantine) taken as the registry's digest of them;
* equals the running sum: the previous one plus the deltas of the changes included since
  (as many rows as changes);
* and, in full mode, equals the sum of the whole digest table (SQL ``SUM()`` of limbs).

An owner whose registry rows differ from its digest never reaches this check published:
the builder quarantines it (``zone.quarantine``, rule ``registry-ledger``). A difference
here is the builder's or an editor's of the file or the digest table: the zone is
refused; the owners whose digest and file differ are named where they can be.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tldsec.cycle.reconcile import Apex, file_records, owner_records
from tldsec.registry import zonedigest
from tldsec.registry.models import ZoneChange
from tldsec.registry.zonedigest import Tally
from tldsec.zone.blocks import ZoneFileBlocks
from tldsec.zone.builder import canonical_key

log = logging.getLogger("tldsec.cycle")


@dataclass(frozen=True, slots=True)
class Position:
    """Where the last reconciled build stands: the running sum of the registry's deltas
    it included, its file's digest (every owner but the apex), and the changes included
    (every row up to ``change_id`` but the ``unsettled`` ones)."""

    registry: Tally
    zone: Tally
    change_id: int
    unsettled: tuple[int, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "registry": [self.registry.hex(), self.registry.count],
            "zone": [self.zone.hex(), self.zone.count],
            "change_id": self.change_id,
            "unsettled": list(self.unsettled),
        }

    @classmethod
    def from_json(cls, data: Any) -> Position | None:
        """The position recorded (None when there is none, or it is unreadable: the
        next check is a full one, from the digest table)."""
        try:
            return cls(
                Tally(int(data["registry"][0], 16), int(data["registry"][1])),
                Tally(int(data["zone"][0], 16), int(data["zone"][1])),
                int(data["change_id"]),
                tuple(int(i) for i in data["unsettled"]),
            )
        except (TypeError, KeyError, ValueError, IndexError):
            return None


@dataclass(frozen=True, slots=True)
class LedgerCheck:
    """The outcome: the new position, and the sums compared."""

    position: Position
    zone: Tally  # the zone's side, with the registry's digest of the owners left out
    table: Tally | None  # the digest table's sum (full mode)
    differing: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def equal(self) -> bool:
        running = self.position.registry
        return (
            self.problem is None
            and self.zone == running
            and (self.table is None or self.table == running)
        )

    def describe(self) -> str:
        running = self.position.registry
        if self.equal:
            return (
                f"the registry's digest: {running.count:,} records "
                f"(running sum {running.hex()[:16]}) equal the zone's"
            )
        if self.problem is not None:
            return f"the registry's digest could not be compared: {self.problem}"
        parts = [
            f"the registry's running digest holds {running.count:,} records "
            f"({running.hex()[:16]}), the zone {self.zone.count:,} ({self.zone.hex()[:16]})"
        ]
        if self.table is not None:
            parts.append(f"the digest table {self.table.count:,} ({self.table.hex()[:16]})")
        names = ", ".join(self.differing[:10]) or "(no single owner found)"
        return "; ".join(parts) + f"; they differ at {names}"


def deltas_since(session: Session, previous: Position, zone_id: int) -> Tally:
    """The sum of the deltas of the zone's changes included since ``previous`` (change
    ids are the registry's, shared by its zones; each row names its zone)."""
    query = select(ZoneChange.digest_delta, ZoneChange.count_delta).where(
        or_(ZoneChange.id > previous.change_id, ZoneChange.id.in_(list(previous.unsettled))),
        ZoneChange.zone_id == zone_id,
    )
    total = Tally()
    for delta, count in session.execute(query):
        total = total.plus(zonedigest.delta_of(delta, count))
    return total


def check(
    session: Session,
    path: Path,
    scope: Apex,
    previous: Position | None,
    *,
    change_id: int,
    unsettled: Iterable[int],
    zone: Tally | None = None,
    old_path: Path | None = None,
    rewritten: Iterable[str] = (),
) -> LedgerCheck:
    """Compare the unsigned zone at ``path`` with the registry's digest.

    Full mode when ``old_path`` is None: ``zone`` is the file's tally without the owners
    ``scope`` leaves out (``reconcile.full`` computed it), or it is read here. Otherwise
    incremental: ``old_path`` is the previous reconciled file (``previous.zone`` its
    digest) and ``rewritten`` the owners the builder rewrote."""
    newest = session.scalar(select(func.max(ZoneChange.id))) or 0
    if previous is not None and newest < previous.change_id:
        # The registry's changes went back (a restored or a new database): the running
        # sum is of another history. The table is the reference; a full check.
        log.warning(
            "the registry's newest change %d is older than the digest's position %d "
            "(a restored database?): the digest table is checked in full",
            newest,
            previous.change_id,
        )
        previous, old_path = None, None
    apex_only = Apex(scope.origin, scope.zone_id)
    left_out = sorted(scope.glue_owners | scope.withheld)
    in_file = Tally.of(owner_records(path, left_out, apex_only))
    registry_left_out = Tally()
    for tally in zonedigest.stored(session, left_out).values():
        registry_left_out = registry_left_out.plus(tally)
    position = (change_id, tuple(sorted(set(unsettled))))
    if old_path is None:
        if zone is None:
            zone = Tally.of(file_records(path, scope))
        table = zonedigest.table_sum(session, scope.zone_id)
        running = (
            table
            if previous is None
            else previous.registry.plus(deltas_since(session, previous, scope.zone_id))
        )
        whole = zone.plus(in_file)
        side = zone.plus(registry_left_out)
        result = LedgerCheck(Position(running, whole, *position), side, table)
        if result.equal:
            return result
        named = zonedigest.differing(session, zone=(scope.zone_id, scope.origin))
        return LedgerCheck(result.position, side, table, named or _by_owner(session, path, scope))
    assert previous is not None
    owners = sorted({scope.origin, *(_absolute(n) for n in rewritten)}, key=canonical_key)
    running = previous.registry.plus(deltas_since(session, previous, scope.zone_id))
    if _outside(old_path, owners) != _outside(path, owners):
        problem = (
            f"the unsigned zone {path} differs from the previous one outside the "
            f"{len(owners)} owners the builder rewrote"
        )
        return LedgerCheck(Position(running, previous.zone, *position), Tally(), None, (), problem)
    old = Tally.of(owner_records(old_path, owners, apex_only))
    new = Tally.of(owner_records(path, owners, apex_only))
    whole = previous.zone.minus(old).plus(new)
    side = whole.minus(in_file).plus(registry_left_out)
    result = LedgerCheck(Position(running, whole, *position), side, None)
    if result.equal:
        return result
    return LedgerCheck(result.position, side, None, _differing_at(session, path, scope, owners))


def _differing_at(session: Session, path: Path, scope: Apex, owners: list[str]) -> tuple[str, ...]:
    """Of ``owners``, those whose records in the file differ from the registry's digest."""
    wanted = [o for o in owners if not scope.excludes(o)]
    ledger = zonedigest.stored(session, wanted)
    found = zonedigest.by_owner(owner_records(path, wanted, scope))
    return tuple(o for o in sorted(wanted) if found.get(o, Tally()) != ledger[o])


def _by_owner(session: Session, path: Path, scope: Apex) -> tuple[str, ...]:
    """Every owner whose records in the file differ from the registry's digest (a whole
    pass: only when a full check failed and the rows agree with the digest)."""
    found = zonedigest.by_owner(file_records(path, scope))
    stored = zonedigest.zone_stored(session, scope.zone_id)
    ledger = {o: t for o, t in stored.items() if not scope.excludes(o)}
    names = set(found) | set(ledger)
    return tuple(sorted(o for o in names if found.get(o, Tally()) != ledger.get(o, Tally())))


def _outside(path: Path, owners: list[str]) -> str:
    """The SHA-256 of the record lines outside the blocks of ``owners`` (canonical order)."""
    h = hashlib.sha256()
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        blocks = ZoneFileBlocks(data, str(path))
        pos = blocks.start
        for block in blocks.blocks(owners):
            h.update(b"%d:" % (block.start - pos))
            h.update(data[pos : block.start])
            pos = block.end
        h.update(data[pos : blocks.end])
    return h.hexdigest()


def _absolute(name: str) -> str:
    return name if name.endswith(".") else name + "."
