"""The DS advisory over EPP (issue 18, decision 51): after a registrar adds a DS (a
``domain:update`` with ``secDNS:add``, or a ``domain:create`` with DS), its queue gets a
poll message saying whether each added DS matches a published KSK of the child that
validly signs its DNSKEY set (``registry/advisory.py``), does not, or could not be
checked. Never blocking (DPS 3.3 allows a DS for a key not yet published): the EPP
command committed long before; the check runs on its own thread under serve.

The pass reads the newest registrar changes (a window of ids below the last seen, for
transactions that commit late on PostgreSQL), each once per process (``seen``) and once
ever (``change_note`` kind ``advisory``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tldsec.clock import Clock
from tldsec.registry.advisory import Advice, Advisor, name_servers
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.ds_rules import DsData
from tldsec.registry.models import ChangeNote, Domain, HistoryEntry, PollMessage, ZoneChange

WINDOW = 500  # ids below the last seen that are read again (late commits)
BATCH = 200  # changes looked at per pass


@dataclass
class AdvisoryPass:
    """Queue the advisory of each registrar's DS add, once."""

    registry: RegistryDatabase
    advisor: Advisor
    clock: Clock
    cursor: int | None = None  # the newest change id looked at
    seen: set[int] = field(default_factory=set)

    def run_once(self) -> int:
        """Check the DS added since the last pass; the number of messages queued."""
        with self.registry.read() as session:
            if self.cursor is None:
                self.cursor = int(session.scalar(select(func.max(ZoneChange.id))) or 0)
            rows = session.execute(
                select(ZoneChange.id, ZoneChange.name, ZoneChange.sv_trid, ZoneChange.registrar_id)
                .where(
                    ZoneChange.id > self.cursor - WINDOW,
                    ZoneChange.id.not_in(sorted(self.seen)),
                    ZoneChange.registrar_id.is_not(None),
                    ZoneChange.sv_trid.is_not(None),
                )
                .order_by(ZoneChange.id)
                .limit(BATCH)
            ).all()
            fresh = list(rows)
            if not fresh:
                return 0
            noted = set(
                session.scalars(
                    select(ChangeNote.change_id).where(
                        ChangeNote.kind == "advisory",
                        ChangeNote.change_id.in_([r.id for r in fresh]),
                    )
                )
            )
            work = []
            for r in fresh:
                self.seen.add(r.id)
                if r.id in noted:
                    continue
                added = _added(session, r.name, r.sv_trid)
                if not added:
                    continue
                domain_id = session.scalar(select(Domain.id).where(Domain.name == r.name))
                if domain_id is None:
                    continue  # deleted since
                work.append((r, added, name_servers(session, domain_id)))
        self.cursor = max(self.cursor, max(r.id for r in rows))
        self.seen = {i for i in self.seen if i > self.cursor - WINDOW}
        queued = 0
        for r, added, servers in work:
            now = self.clock.now()
            advice = [(ds, self.advisor.check(f"{r.name}.", ds, servers, now)) for ds in added]
            with self.registry.write() as session:
                session.add(ChangeNote(change_id=r.id, kind="advisory", at=now))
                session.add(
                    PollMessage(
                        registrar_id=r.registrar_id,
                        created_at=now,
                        text=message_text(r.name, r.sv_trid, advice),
                    )
                )
            queued += 1
        return queued


def message_text(domain: str, sv_trid: str, advice: list[tuple[DsData, Advice]]) -> str:
    """The poll message: one sentence per DS added."""
    parts = [f"DS {ds}: {a.verdict}: {a.message}" for ds, a in advice]
    return f"DS advisory for {domain} ({sv_trid}, never blocking): " + " | ".join(parts)


def _added(session: Session, name: str, sv_trid: str) -> list[DsData]:
    """The DS the transaction ``sv_trid`` added to ``name`` (its history row)."""
    detail = session.scalar(
        select(HistoryEntry.detail).where(
            HistoryEntry.object_name == name, HistoryEntry.sv_trid == sv_trid
        )
    )
    data = json.loads(detail or "{}")
    texts = data.get("ds_added") or (data.get("ds") if "years" in data else None) or []
    found = []
    for text in texts:
        tag, alg, dtype, digest = str(text).split(None, 3)
        found.append(DsData.of(int(tag), int(alg), int(dtype), digest))
    return found
