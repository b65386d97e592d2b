"""The parent check on the planner's schedule (issue 21: "serve polls the parent").

While a KSK's DS waits at a parent gate (submitted and not yet seen, or its withdrawal
requested and not yet gone), ``tldsec serve`` asks the parent's servers every
``[keys] parent_check_seconds`` through ``KeyManager.check_parent``: the same validated
path as ``tldsec keys check-parent`` (keys/parentproof.py), so a gate opens only on
authoritative answers validated from the parent's trust anchor. While an operator
transfer waits for the gaining operator's DS at the parent (imported, not yet seen, not
handed over: keys/transfer.py step ``peer-ds``), it asks the same way through
``TransferManager.check_parent``, the path of ``tldsec keys transfer check-parent``, and
records the first sighting (the DS caches' wait starts then). With nothing waiting, or
no parent servers configured, it asks nothing.

A DS under one of our key tags with another digest, or a parent DS TTL longer than the
rollover waits assume, is a ``system.anomaly`` in the audit log (once per distinct
finding) and a warning in serve's log: the gate stays shut until someone looks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from tldsec.audit.config import open_audit_log
from tldsec.audit.events import EventType
from tldsec.clock import Clock
from tldsec.errors import TransferRefused
from tldsec.keys.config import load_key_settings
from tldsec.keys.database import open_signer_db
from tldsec.keys.gates import ParentCheck, ParentServer
from tldsec.keys.parentproof import TrustAnchor
from tldsec.keys.service import KeyManager, Recorder, signer_zone_id
from tldsec.keys.state import DsState, Role
from tldsec.keys.transfer_service import TransferManager
from tldsec.settings import Settings

log = logging.getLogger("tldsec.serve.parent")
ACTOR = "component:parent-check"
WAITING = (DsState.SUBMITTED, DsState.WITHDRAWAL_REQUESTED)


class ParentCheckPass:
    """One pass of serve's outreach worker: the parent check of one zone (``settings``
    narrowed to it; serve makes one per zone), when one is due."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._last: datetime | None = None
        self._reported: set[str] = set()  # findings already in the audit log
        self.last_check: ParentCheck | None = None

    def due(self, now: datetime) -> bool:
        conf = load_key_settings(self._settings)
        if not conf.parent_servers or conf.parent_check_seconds <= 0:
            return False
        every = timedelta(seconds=conf.parent_check_seconds)
        return self._last is None or now - self._last >= every

    def __call__(self) -> ParentCheck | None:
        now = self._clock.now()
        if not self.due(now):
            return None
        settings = self._settings
        conf = load_key_settings(settings)
        engine = open_signer_db(settings.signer_db_url)
        audit = open_audit_log(settings, self._clock)
        try:
            km = KeyManager(
                engine,
                None,
                settings.policy,
                self._clock,
                origin=settings.origin,
                zone_id=signer_zone_id(engine, settings.origin),  # the zone's keys only
                timing=conf.timing(settings.policy),
                recorder=audit.record,
                actor=ACTOR,
            )
            keys = km.key_records()
            ours = any(k.role is Role.KSK and k.ds_state_at(now) in WAITING for k in keys)
            transfer = TransferManager(km)
            tr = transfer.current()
            theirs = tr is not None and tr.peer_ds_seen is None and tr.handed_over is None
            if not (ours or theirs):
                return None
            self._last = now
            anchor = TrustAnchor.from_file(conf.parent_trust_anchor)
            if theirs:
                self._transfer(transfer, conf.parent_servers, anchor, audit.record)
            if not ours:
                return self.last_check
            check, made = km.check_parent(conf.parent_servers, anchor)
            self.last_check = check
            for t in made:
                log.info("parent check: %s %s %s (%s)", t.event, t.role, t.key_tag, t.reason)
            for a in check.answers:
                if a.ds is None:
                    log.info("parent check: %s: %s", a.server, a.error)
            ttl = km.parent_ttl_problem(check)
            for finding in check.mismatches(keys) + ([ttl] if ttl else []):
                log.warning("parent check: %s", finding)
                if finding not in self._reported:
                    self._reported.add(finding)
                    audit.record(
                        EventType.SYSTEM_ANOMALY,
                        actor=ACTOR,
                        anomaly="parent check",
                        finding=finding,
                    )
            return check
        finally:
            audit.close()
            engine.dispose()

    def _transfer(
        self,
        transfer: TransferManager,
        servers: Sequence[ParentServer],
        anchor: TrustAnchor,
        record: Recorder,
    ) -> None:
        """The gaining operator's DS at the parent (``keys transfer check-parent``)."""
        try:
            check, served = transfer.check_parent(servers, anchor)
        except TransferRefused as exc:  # the parent's DS TTL longer than the waits assume
            finding = f"transfer: {exc}"
            log.warning("parent check: %s", finding)
            if finding not in self._reported:
                self._reported.add(finding)
                record(
                    EventType.SYSTEM_ANOMALY, actor=ACTOR, anomaly="parent check", finding=finding
                )
            return
        self.last_check = check
        if served:
            log.info("parent check: the gaining operator's DS is served by every parent server")
        else:
            log.info(
                "parent check: the gaining operator's DS is not yet served by every parent "
                "server (%s)",
                ", ".join(f"{a.server}: {a.error or 'without it'}" for a in check.answers),
            )
