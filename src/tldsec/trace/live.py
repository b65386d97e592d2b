"""When each published serial is served by every secondary, and the registrars' "live"
poll messages (decision 51; issue 18 "live").

One pass (``LiveTracker.run_once``, every ``[distribute] poll_seconds`` under serve):
the published serials not yet live (``serial_trace``) are compared with the serial each
secondary answers (``secondaries``); a secondary seen serving a serial, or a later one,
gets a ``served`` row at that moment; a serial every secondary serves gets a ``live`` row
(the last secondary's time), and each registrar's change in it a poll message (RFC 5730
2.9.2.3) "DS change SVTRID for DOMAIN is live in serial N, served by all secondaries at
T", queued once (``change_note``) in the same transaction. Nothing is asked when no
published serial waits, so an idle registry costs one query per pass (and a write a
minute).

"Every secondary" is every secondary of every primary: with two sites, each primary's
pass asks only its own secondaries, so each registers them in ``trace_node`` (renewed
every ``REGISTER_EVERY``) and a serial is live once every secondary registered within
``NODE_TTL`` has a ``served`` row, whichever primary wrote it. A secondary taken out of
a primary's configuration stops being waited for ``NODE_TTL`` later. Secondary names are
unique across primaries.

Per zone (decision 72): serve runs one tracker per zone, with the zone's registry id.
It reads and writes only that zone's ``serial_trace`` rows (zones' serials are
independent, so another zone's larger serial says nothing of this one's), registers and
waits for the secondaries that serve the zone (``trace_node`` per zone, ``nodes_of``'s
``origin``), and queues the poll messages of its zone's changes only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tldsec.clock import Clock
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.models import (
    ChangeNote,
    ChangeTrace,
    HistoryEntry,
    PollMessage,
    SerialTrace,
    TraceNode,
    ZoneChange,
)
from tldsec.trace.secondaries import Node, Probe, covers, serving, soa_serial

HORIZON = timedelta(days=1)  # a serial published longer ago is not waited for any more
RECENT = 1000  # published serials looked at: 16 h of cycles a minute apart
REGISTER_EVERY = timedelta(minutes=1)  # a primary renews its secondaries' registration
NODE_TTL = timedelta(minutes=5)  # a registration not renewed for this long has lapsed


@dataclass(frozen=True, slots=True)
class LiveChange:
    """A registrar's change now served by every secondary."""

    change_id: int
    sv_trid: str
    domain: str
    serial: int
    accepted_at: datetime
    live_at: datetime

    @property
    def seconds(self) -> float:
        return max(0.0, (self.live_at - self.accepted_at).total_seconds())


@dataclass
class LiveTracker:
    """The pass that records ``served`` and ``live`` and queues the poll messages."""

    registry: RegistryDatabase
    origin: str
    zone_id: int  # the zone's registry id (``registry.zonerows.zone_id_of``)
    nodes: tuple[Node, ...]
    clock: Clock
    probe: Probe = field(default=soa_serial)
    poll: bool = True  # queue the poll messages ([epp] poll_live)
    primary: str = ""  # this primary's name in ``trace_node`` (``[lease] name``)
    _registered: datetime | None = field(default=None, init=False)

    def run_once(self) -> list[LiveChange]:
        now = self.clock.now()
        self._register(now)
        with self.registry.read() as session:
            pending = _pending(session, self.zone_id, now)
            if not pending:
                return []
            required = {n.name for n in self.nodes} | set(
                session.scalars(
                    select(TraceNode.name).where(
                        TraceNode.zone_id == self.zone_id, TraceNode.seen_at > now - NODE_TTL
                    )
                )
            )
            served = {
                (r.serial, r.node): r.at
                for r in session.scalars(
                    select(SerialTrace).where(
                        SerialTrace.zone_id == self.zone_id,
                        SerialTrace.stage == "served",
                        SerialTrace.serial.in_(pending),
                    )
                )
            }
        seen_at = self.clock.now()
        found = {n.name: serving(n, self.origin, self.probe) for n in self.nodes}
        new_rows: list[SerialTrace] = []
        for serial in pending:
            for node, current in found.items():
                if current is not None and (serial, node) not in served and covers(current, serial):
                    served[(serial, node)] = seen_at
                    new_rows.append(
                        SerialTrace(
                            zone_id=self.zone_id,
                            serial=serial,
                            stage="served",
                            node=node,
                            at=seen_at,
                        )
                    )
        live: dict[int, datetime] = {}
        for serial in pending:
            times = [served.get((serial, name)) for name in required]
            if all(t is not None for t in times):
                live[serial] = max(t for t in times if t is not None)
        if not new_rows and not live:
            return []
        with self.registry.write() as session:
            session.add_all(new_rows)
            # Another primary's pass may have found the same serial live first.
            already = set(
                session.scalars(
                    select(SerialTrace.serial).where(
                        SerialTrace.zone_id == self.zone_id,
                        SerialTrace.stage == "live",
                        SerialTrace.serial.in_(list(live)),
                    )
                )
            )
            live = {s: at for s, at in live.items() if s not in already}
            for serial, at in live.items():
                session.add(
                    SerialTrace(zone_id=self.zone_id, serial=serial, stage="live", node="", at=at)
                )
            return _queue_live(session, self.zone_id, live, now, self.poll) if live else []

    def _register(self, now: datetime) -> None:
        """Say which secondaries this primary asks, at most every ``REGISTER_EVERY``."""
        if self._registered is not None and now - self._registered < REGISTER_EVERY:
            return
        with self.registry.write() as session:
            for node in self.nodes:
                session.merge(
                    TraceNode(
                        zone_id=self.zone_id, name=node.name, primary=self.primary, seen_at=now
                    )
                )
        self._registered = now


def _pending(session: Session, zone_id: int, now: datetime) -> list[int]:
    """The zone's serials published within ``HORIZON`` that are not live yet: its newest
    ``RECENT`` published serials by the primary key, so the pass costs the same after
    a year of cycles."""
    published = [
        serial
        for serial, at in session.execute(
            select(SerialTrace.serial, SerialTrace.at)
            .where(SerialTrace.zone_id == zone_id, SerialTrace.stage == "published")
            .order_by(SerialTrace.serial.desc())
            .limit(RECENT)
        )
        if at > now - HORIZON
    ]
    if not published:
        return []
    live = set(
        session.scalars(
            select(SerialTrace.serial).where(
                SerialTrace.zone_id == zone_id,
                SerialTrace.stage == "live",
                SerialTrace.serial.in_(published),
            )
        )
    )
    return sorted(set(published) - live)


def _queue_live(
    session: Session, zone_id: int, live: dict[int, datetime], now: datetime, poll: bool
) -> list[LiveChange]:
    """The poll message of each registrar change of the zone in a serial now live, once
    (``change_trace`` has no zone: a serial number of another zone may equal this one's,
    the change's own ``zone_id`` tells them apart)."""
    rows = session.execute(
        select(ZoneChange, ChangeTrace.serial)
        .join(ChangeTrace, ChangeTrace.change_id == ZoneChange.id)
        .where(
            ZoneChange.zone_id == zone_id,
            ChangeTrace.serial.in_(list(live)),
            ZoneChange.registrar_id.is_not(None),
        )
        .order_by(ZoneChange.id)
    ).all()
    if not rows:
        return []
    ids = [c.id for c, _ in rows]
    noted = set(
        session.scalars(
            select(ChangeNote.change_id).where(
                ChangeNote.kind == "live", ChangeNote.change_id.in_(ids)
            )
        )
    )
    ds_trids = _ds_changes(session, [c for c, _ in rows])
    out: list[LiveChange] = []
    for change, serial in rows:
        if change.id in noted or change.sv_trid is None or change.registrar_id is None:
            continue
        noted.add(change.id)
        at = live[serial]
        what = "DS change" if change.sv_trid in ds_trids else f"Change ({change.reason})"
        session.add(ChangeNote(change_id=change.id, kind="live", at=now))
        if poll:
            session.add(
                PollMessage(
                    registrar_id=change.registrar_id,
                    created_at=now,
                    text=(
                        f"{what} {change.sv_trid} for {change.name} is live in serial {serial}, "
                        f"served by all secondaries at {at:%Y-%m-%dT%H:%M:%SZ}"
                    ),
                )
            )
        out.append(LiveChange(change.id, change.sv_trid, change.name, serial, change.at, at))
    return out


def _ds_changes(session: Session, changes: Sequence[ZoneChange]) -> set[str]:
    """The svTRIDs among ``changes`` whose history rows added or removed a DS."""
    names = {c.name for c in changes}
    trids = {c.sv_trid for c in changes if c.sv_trid}
    found: set[str] = set()
    for trid, detail in session.execute(
        select(HistoryEntry.sv_trid, HistoryEntry.detail).where(
            HistoryEntry.object_name.in_(names), HistoryEntry.sv_trid.in_(trids)
        )
    ):
        data = json.loads(detail or "{}")
        if data.get("ds_added") or data.get("ds_removed") or data.get("ds"):
            found.add(trid)
    return found
