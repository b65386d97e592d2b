"""``tldsec trace SVTRID``: every step of the zone changes one EPP (or console)
transaction made, with times, from the registry's trace tables (decision 51).

A change's steps are its serials' steps: ``change_trace`` says which built serials
included it, ``serial_trace`` when each serial was built, signed, verified, published
(or refused) and served by each secondary, and when it was served by all of them (live).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tldsec.errors import ObjectNotFound
from tldsec.registry.models import (
    ChangeTrace,
    EppTransaction,
    Registrar,
    SerialTrace,
    ZoneChange,
)

# The order of a serial's stages; a served row's node is the secondary.
STAGE_ORDER = {
    "built": 0,
    "signed": 1,
    "verified": 2,
    "refused": 2,
    "published": 3,
    "served": 4,
    "live": 5,
}


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a change: ``accepted`` (committed), then its serials' stages."""

    at: datetime
    stage: str
    serial: int | None = None
    node: str | None = None  # the secondary of a ``served`` step

    def describe(self) -> str:
        where = f"serial {self.serial}" if self.serial is not None else ""
        if self.stage == "served":
            return f"served by {self.node} ({where})"
        if self.stage == "live":
            return f"live: {where} served by every secondary"
        return f"{self.stage} {where}".strip()


@dataclass(frozen=True, slots=True)
class ChangeTrail:
    """One zone change's trace."""

    change_id: int
    sv_trid: str
    cl_trid: str | None
    registrar: str | None
    domain: str
    reason: str
    steps: tuple[Step, ...]

    @property
    def accepted_at(self) -> datetime:
        return self.steps[0].at

    @property
    def live(self) -> Step | None:
        return next((s for s in self.steps if s.stage == "live"), None)

    @property
    def to_served_seconds(self) -> float | None:
        """From the commit to served by every secondary (None: not yet)."""
        live = self.live
        return None if live is None else (live.at - self.accepted_at).total_seconds()

    def state(self) -> str:
        """accepted, in zone serial N, or served by every secondary at T."""
        live = self.live
        if live is not None:
            return f"served by every secondary at {_iso(live.at)} (serial {live.serial})"
        published = [s for s in self.steps if s.stage == "published"]
        if published:
            return f"in zone serial {published[-1].serial}, not yet served by every secondary"
        return "accepted, waiting for the next zone cycle"

    def lines(self) -> Iterator[str]:
        yield (
            f"change {self.change_id}: {self.reason} of {self.domain} by "
            f"{self.registrar or 'the registry'} (svTRID {self.sv_trid}"
            + (f", clTRID {self.cl_trid})" if self.cl_trid else ")")
        )
        for step in self.steps:
            offset = (step.at - self.accepted_at).total_seconds()
            yield f"  {_iso(step.at)}  +{offset:8.1f} s  {step.describe()}"
        yield f"  now: {self.state()}"

    def as_json(self) -> dict[str, Any]:
        return {
            "change_id": self.change_id,
            "sv_trid": self.sv_trid,
            "cl_trid": self.cl_trid,
            "registrar": self.registrar,
            "domain": self.domain,
            "reason": self.reason,
            "state": self.state(),
            "to_served_seconds": self.to_served_seconds,
            "steps": [
                {"at": _iso(s.at), "stage": s.stage, "serial": s.serial, "node": s.node}
                for s in self.steps
            ],
        }


def trace(session: Session, sv_trid: str) -> tuple[ChangeTrail, ...]:
    """The trace of each zone change the transaction ``sv_trid`` made."""
    changes = session.execute(
        select(ZoneChange, Registrar.client_id)
        .outerjoin(Registrar, Registrar.id == ZoneChange.registrar_id)
        .where(ZoneChange.sv_trid == sv_trid)
        .order_by(ZoneChange.id)
    ).all()
    if not changes:
        raise ObjectNotFound(_not_found(session, sv_trid))
    return tuple(_trail(session, change, client) for change, client in changes)


def _trail(session: Session, change: ZoneChange, client: str | None) -> ChangeTrail:
    serials = list(
        session.scalars(select(ChangeTrace.serial).where(ChangeTrace.change_id == change.id))
    )
    later: list[Step] = []
    if serials:
        # The change's zone's serials: another zone may have used the same numbers.
        rows = session.scalars(
            select(SerialTrace).where(
                SerialTrace.zone_id == change.zone_id, SerialTrace.serial.in_(serials)
            )
        )
        later = [Step(r.at, r.stage, r.serial, r.node or None) for r in rows]
    later.sort(key=lambda s: (s.at, s.serial or 0, STAGE_ORDER.get(s.stage, 9), s.node or ""))
    steps = [Step(change.at, "accepted"), *later]
    assert change.sv_trid is not None
    return ChangeTrail(
        change_id=change.id,
        sv_trid=change.sv_trid,
        cl_trid=change.cl_trid,
        registrar=client,
        domain=change.name,
        reason=change.reason,
        steps=tuple(steps),
    )


def _not_found(session: Session, sv_trid: str) -> str:
    command = session.execute(
        select(
            EppTransaction.command, EppTransaction.result_code, EppTransaction.object_name
        ).where(EppTransaction.sv_trid == sv_trid)
    ).first()
    if command is None:
        return (
            f"no zone change and no EPP transaction has svTRID {sv_trid!r}: check the id "
            "(the <svTRID> of the registrar's response)"
        )
    name, code, obj = command
    return (
        f"svTRID {sv_trid!r} is a {name} of {obj or 'no object'} answered {code}: it changed "
        "nothing in the zone, so there is nothing to trace"
    )


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
