"""The full build to a file: every owner from the registry, and the build record the
next (incremental) build starts from (``zone.buildinfo``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tldsec.clock import to_epoch
from tldsec.policy import TtlPolicy
from tldsec.registry.models import ZoneChange
from tldsec.settings import ApexSettings
from tldsec.zone import owners
from tldsec.zone.builder import apex_records, build_zone, zone_text
from tldsec.zone.buildinfo import BuildInfo, fingerprint
from tldsec.zone.output import BuildResult, write_atomic

GAP_WINDOW = 1_000  # ids below the newest a full build checks for unseen changes


def build_full(
    session: Session,
    path: Path,
    origin: str,
    apex: ApexSettings,
    ttl: TtlPolicy,
    serial: int,
    built_at: datetime,
    reason: str,
) -> BuildResult:
    """Build every owner from the registry snapshot and write ``path`` and its record;
    ``reason``: why not incrementally (kept in the result)."""
    zone = build_zone(session, origin=origin, apex=apex, ttl=ttl, serial=serial)
    apex_owners = {r.owner for r in apex_records(origin, apex, ttl, serial)}
    now = to_epoch(built_at)
    newest = zone.last_change_id
    seen = set(
        session.scalars(
            select(ZoneChange.id).where(
                ZoneChange.id > newest - GAP_WINDOW, ZoneChange.id <= newest
            )
        )
    )
    unsettled = {i: now for i in range(max(1, newest - GAP_WINDOW + 1), newest + 1)}
    for i in seen:
        unsettled.pop(i, None)
    apex_glue = _apex_glue_hosts(session, apex_owners, origin)

    def chunks() -> Iterable[bytes]:
        batch: list[str] = []
        for line in zone_text(zone, built_at):
            batch.append(line)
            if len(batch) == 20_000:
                yield "".join(batch).encode("ascii")
                batch = []
        yield "".join(batch).encode("ascii")

    digest, size = write_atomic(path, chunks())
    info = BuildInfo(
        origin=origin,
        serial=serial,
        last_change_id=newest,
        fingerprint=fingerprint(origin, apex, ttl),
        sha256=digest,
        size=size,
        delegations=zone.delegations,
        with_ds=zone.signed_delegations,
        glue_hosts=zone.glue_hosts,
        orphan_hosts=zone.orphan_hosts,
        apex_glue_hosts=apex_glue,
        unsettled=unsettled,
    )
    info.save(path)
    return BuildResult(
        path=path,
        serial=serial,
        last_change_id=newest,
        incremental=False,
        reason=reason,
        delegations=zone.delegations,
        signed_delegations=zone.signed_delegations,
        glue_hosts=zone.glue_hosts,
        orphan_hosts=len(zone.orphan_hosts),
        owners=len({r.owner for r in zone.records}),
    )


def _apex_glue_hosts(session: Session, apex_owners: set[str], origin: str) -> tuple[str, ...]:
    names = [o[:-1] for o in apex_owners if o != origin]
    return tuple(sorted(owners.glue_hosts(session, names)))
