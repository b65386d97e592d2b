"""The cycle's safeguards besides the gate (DPS 4.5.1, 6.6): what it reuses is proved,
what it publishes reconciles with the registry, and a collapse waits for a person.

``Safeguards`` is the half of ``Cycle`` that does this, kept apart from the stages:

* ``_unsigned_base``: the unsigned work file is built on only if it is the file the last
  cycle built and reconciled (an incident and a full build otherwise);
* ``_reconcile``: the unsigned zone against the registry (``reconcile``), in full or for
  the changed owners;
* ``_collapse`` / ``_hold``: the collapse guards (``guard``) and an operator's acceptance;
* ``_previous_zone``: the distributed zone the signer may reuse, proved equal to the
  digest the gate recorded (``filedigest``);
* the incidents each raises, in ``zones/cycle.json``, the log and the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tldsec.clock import Clock, to_epoch
from tldsec.cycle import ledger, reconcile
from tldsec.cycle.guard import GuardSettings, HeldChange, Measure
from tldsec.cycle.guard import check as check_collapse
from tldsec.cycle.result import CycleResult, Outcome, RunLog
from tldsec.cycle.state import CycleState
from tldsec.distribute.store import ZoneStore
from tldsec.errors import CycleError, DigestMismatch
from tldsec.filedigest import Checked, check_file
from tldsec.progress import progress_lines
from tldsec.registry.models import ZoneChange
from tldsec.settings import ApexSettings, Settings
from tldsec.verify.options import VerifyOptions
from tldsec.zone.buildinfo import BuildInfo
from tldsec.zonefiles import ZoneFiles, load_state

log = logging.getLogger("tldsec.cycle")


class Safeguards:
    """The safeguards of ``Cycle`` (which provides these attributes and methods)."""

    settings: Settings
    zone_id: int  # the zone's registry id
    clock: Clock
    store: ZoneStore
    verify: VerifyOptions
    guards: GuardSettings
    accept: str | None
    operator: str

    @property
    def state_path(self) -> Path:
        raise NotImplementedError

    def state(self) -> CycleState:
        raise NotImplementedError

    def _advance(self, **fields: Any) -> None:
        raise NotImplementedError

    def _record(self, event: str, actor: str, **details: Any) -> None:
        raise NotImplementedError

    def _save_incident(
        self, run: RunLog, kind: str, failed_check: str, message: str, **fields: Any
    ) -> None:
        """Record an incident found before publication (no candidate is kept) in the
        cycle state, with any other state ``fields`` (e.g. ``held``)."""
        incident = {
            "kind": kind,
            "at": run.started.isoformat(),
            "serial": run.serial,
            "failed_checks": [failed_check],
            "candidate": None,
            "message": message,
            "kept_serial": run.distributed,
        }
        CycleState(**{**asdict(self.state()), "incident": incident, **fields}).save(self.state_path)

    def _unsigned_base(self, run: RunLog, path: Path) -> bool:
        """Whether the build may start from the unsigned file on disk: only if it is the
        file the last cycle built and reconciled (an incident when it was edited since)."""
        recorded = self.state().unsigned_sha256
        if not path.exists():
            return True  # nothing to build on: the builder builds in full anyway
        if recorded is None:
            log.info("no reconciled unsigned zone recorded: building %s in full", path)
            return False
        actual = reconcile.file_sha256(path)
        if actual != recorded:
            self._integrity_incident(
                run,
                f"the unsigned zone {path} is not the file the last cycle built and "
                "reconciled with the registry (edited outside the builder?); it is "
                "rebuilt in full from the registry",
                consequence="rebuilt in full from the registry",
            )
            return False
        return True

    def _reconcile(
        self,
        session: Any,
        path: Path,
        *,
        full: bool,
        withheld: Iterable[str] = (),
        previous_file: Path | None = None,
    ) -> tuple[reconcile.Reconciliation, ledger.LedgerCheck | None]:
        """The unsigned zone against the registry's rows (``reconcile``), then against
        the registry's own digest (``ledger``); ``previous_file``: the last reconciled
        unsigned file, kept while the build replaced it (None: not built on)."""
        state = self.state()
        apex = apex_of(self.settings)
        scope = reconcile.Apex(
            self.settings.origin.lower(),
            self.zone_id,
            frozenset(_absolute(host) for host, _ in apex.glue),
            frozenset(_absolute(name) for name in withheld),
        )
        every = self.verify.full_every_hours * 3600
        last_full = state.reconciled_full_at
        now = to_epoch(self.clock.now())
        previous = ledger.Position.from_json(state.ledger)
        info = BuildInfo.load(path)
        if info is None:
            raise CycleError(f"the unsigned zone {path} has no build record")
        due = last_full is None or now - last_full >= every or self._full_verification_due()
        if full or due or previous is None or previous_file is None:
            result = reconcile.full(session, path, scope, progress_lines("cycle: reconcile"))
            full = True
        else:
            names = session.scalars(
                select(ZoneChange.name).where(
                    ZoneChange.id > state.change_id, ZoneChange.zone_id == self.zone_id
                )
            ).all()
            result = reconcile.owners(session, path, scope, names)
        if not result.equal:
            self._advance(unsigned_sha256=None)  # never built on: the next build is full
            return result, None
        checked = ledger.check(
            session,
            path,
            scope,
            previous,
            change_id=info.last_change_id,
            unsettled=info.unsettled,
            zone=result.zone if full else None,
            old_path=None if full else previous_file,
            rewritten=info.rewritten,
        )
        if not checked.equal:
            # The position stays: the deltas since it are added again next time.
            self._advance(unsigned_sha256=None)
            return result, checked
        log.info("reconciled with the registry: %s; %s", result.describe(), checked.describe())
        self._advance(
            unsigned_sha256=reconcile.file_sha256(path),
            ledger=checked.position.as_json(),
            **({"reconciled_full_at": now} if full else {}),
        )
        return result, checked

    def _full_verification_due(self) -> bool:
        """Whether the gate's record says its next run is a full one (by age or count):
        the whole-zone reconciliation goes with it, so an incremental cycle stays short."""
        current = self.store.current_path()
        if current is None:
            return True
        state = load_state(ZoneFiles(current).verify_state)
        if state is None:
            return True
        full_at = datetime.fromisoformat(state.full_at.replace("Z", "+00:00"))
        if (self.clock.now() - full_at).total_seconds() >= self.verify.full_every_hours * 3600:
            return True
        cycles = self.verify.full_every_cycles
        return bool(cycles) and state.since_full + 1 >= cycles

    def _unreconciled(
        self,
        run: RunLog,
        reason: str,
        result: reconcile.Reconciliation,
        checked: ledger.LedgerCheck | None = None,
    ) -> CycleResult:
        differing = result.differing
        if result.equal and checked is not None:
            described, differing = checked.describe(), checked.differing
        else:
            described = result.describe()
        message = (
            f"serial {run.serial}: the unsigned zone does not reconcile with the registry "
            f"({described})"
        )
        run.stats["reconciliation_failed"] = 1
        out = run.result(Outcome.REFUSED, reason, error=message)
        self._save_incident(run, "reconciliation", "registry-reconciliation", message)
        # DPS 4.5.1: inaccurate data found before publication is an incident.
        log.error("INCIDENT %s; serial %s stays distributed", message, run.distributed)
        self._record(
            "zone.integrity_failed",
            "component:cycle",
            zone=self.settings.origin,
            serial=run.serial,
            error=message,
            differing=list(differing[:20]),
        )
        self._record(
            "cycle.failed", "component:cycle", serial=run.serial, stage="reconcile", error=message
        )
        return out

    def _collapse(self, run: RunLog) -> HeldChange | None:
        """The change the collapse guards hold (None: publish), after an operator's
        acceptance of exactly this change is taken into account."""
        s = run.stats
        after = Measure(s["delegations"], s["with_ds"], s["unsigned_bytes"])
        last = self.state().last_published
        before = Measure.from_stats(last.get("stats") if last else None)
        held = check_collapse(before, after, run.distributed, self.guards)
        if held is None or held.id != self.accept:
            return held
        self._record(
            "cycle.change_accepted",
            self.operator,
            zone=self.settings.origin,
            change=held.id,
            serial=run.serial,
            reasons=list(held.reasons),
        )
        log.warning("cycle: %s accepted change %s: %s", self.operator, held.id, held.reasons)
        return None

    def _hold(self, run: RunLog, reason: str, held: HeldChange, change_id: int) -> CycleResult:
        message = held.describe()
        result = run.result(Outcome.HELD, reason, error=message)
        held_state = {**held.as_json(), "registry_change": change_id}
        self._save_incident(run, "held", "collapse-guard", message, held=held_state)
        # DPS 4.5.1: data that would empty the zone is treated as an incident.
        log.error("INCIDENT %s; serial %s stays distributed", message, run.distributed)
        self._record(
            "cycle.held",
            "component:cycle",
            zone=self.settings.origin,
            serial=run.serial,
            change=held.id,
            before=asdict(held.before),
            after=asdict(held.after),
            reasons=list(held.reasons),
            registry_change=change_id,
        )
        return result

    def _previous_zone(
        self, run: RunLog, distributed: int | None
    ) -> tuple[Path | None, Checked | None, str | None]:
        """The distributed zone the signer may reuse, proved equal to the digest the gate
        recorded (None: sign in full, reusing nothing), that proof for the gate, and what
        is wrong with it when it is damaged."""
        if distributed is None:
            return None, None, None
        previous = self.store.zone_path(distributed)
        if not previous.exists():
            return None, None, None
        try:
            return previous, check_file(previous), None
        except DigestMismatch as exc:
            problem = f"the distributed zone is not the bytes verified: {exc}"
            self._integrity_incident(run, problem)
            return None, None, problem

    def _integrity_incident(
        self,
        run: RunLog,
        message: str,
        consequence: str = "signed and verified in full, reusing nothing",
    ) -> None:
        """A file that differs from what was verified or built: recorded as an incident;
        the cycle goes on without reusing it."""
        run.stats["integrity_incidents"] = run.stats.get("integrity_incidents", 0) + 1
        self._save_incident(run, "integrity", "integrity", f"{message}; {consequence}")
        log.error("INCIDENT %s; %s", message, consequence)
        self._record(
            "zone.integrity_failed",
            "component:cycle",
            zone=self.settings.origin,
            serial=run.serial,
            error=message,
        )


def apex_of(settings: Settings) -> ApexSettings:
    if settings.apex is None:
        raise CycleError("[zone] apex settings are missing")
    return settings.apex


def _absolute(name: str) -> str:
    return name.lower() if name.endswith(".") else name.lower() + "."
