"""The full build to a file: every owner from the registry, and the build record the
next (incremental) build starts from (``zone.buildinfo``)."""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tldsec.clock import to_epoch
from tldsec.errors import ZoneSyntaxError
from tldsec.policy import TtlPolicy
from tldsec.progress import ProgressFor
from tldsec.registry.context import RegistryRules
from tldsec.registry.models import ZoneChange
from tldsec.settings import ApexSettings
from tldsec.zone.blocks import ZoneFileBlocks
from tldsec.zone.builder import build_zone, zone_text
from tldsec.zone.buildinfo import BuildInfo, fingerprint
from tldsec.zone.output import BuildResult, write_atomic
from tldsec.zone.quarantine import Isolation, ledger_suspects

GAP_WINDOW = 1_000  # ids below the newest a full build checks for unseen changes


def build_full(
    session: Session,
    path: Path,
    zone_id: int,
    origin: str,
    apex: ApexSettings,
    ttl: TtlPolicy,
    rules: RegistryRules,
    serial: int,
    built_at: datetime,
    reason: str,
    progress: ProgressFor | None = None,
    ledger: bool = False,
) -> BuildResult:
    """Build every owner from the registry snapshot and write ``path`` and its record;
    ``reason``: why not incrementally (kept in the result). A quarantined object keeps
    what the previous file at ``path`` held for it, when that file matches its record.
    ``ledger``: also quarantine every owner whose rows differ from the registry's digest."""
    now = to_epoch(built_at)
    with contextlib.ExitStack() as stack:
        previous = BuildInfo.load(path)
        blocks = _previous_blocks(stack, path, previous)
        isolation = Isolation(
            rules,
            before=previous.quarantine if previous is not None else (),
            kept=None if blocks is None else (lambda owner: blocks.lines(blocks.find(owner))),
            now=now,
            suspects=ledger_suspects(session, None, (zone_id, origin)) if ledger else None,
        )
        zone = build_zone(
            session,
            zone_id=zone_id,
            origin=origin,
            apex=apex,
            ttl=ttl,
            serial=serial,
            rules=rules,
            isolation=isolation,
            progress=progress,
        )
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

    def chunks() -> Iterable[bytes]:
        batch: list[str] = []
        for line in zone_text(zone, built_at, progress):
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
        fingerprint=fingerprint(origin, apex, ttl, rules),
        sha256=digest,
        size=size,
        delegations=zone.delegations,
        with_ds=zone.signed_delegations,
        glue_hosts=zone.glue_hosts,
        orphan_hosts=zone.orphan_hosts,
        apex_glue_hosts=zone.apex_glue_hosts,
        unsettled=unsettled,
        quarantine=zone.quarantined,
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
        quarantined=zone.quarantined,
        newly_quarantined=zone.newly_quarantined,
        released=zone.released,
    )


def _previous_blocks(
    stack: contextlib.ExitStack, path: Path, info: BuildInfo | None
) -> ZoneFileBlocks | None:
    """The previous file's owner blocks, when it is the file its record describes."""
    if info is None:
        return None
    try:
        f = stack.enter_context(path.open("rb"))
        if os.fstat(f.fileno()).st_size != info.size or info.size == 0:
            return None
        mm = stack.enter_context(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
        if hashlib.sha256(mm).hexdigest() != info.sha256:
            return None
        return ZoneFileBlocks(mm, str(path))
    except (OSError, ValueError, ZoneSyntaxError):
        return None
