"""The cycle's verify stage, the same for a signed zone and for one published unsigned.

``VerifyStage`` is the part of ``Cycle`` that hands the candidate to the gate (DPS 6.6):
``_verify_candidate`` builds the request (the previous zone unless its bytes were found
damaged), runs the gate with the key store for the second implementation and, in the
unsigned mode, the zone fact (``verify/insecure.py``), and saves the report; a refused
candidate is ``_refuse``d: the build distrusted, the file kept aside as ``.refused``,
an incident recorded (DPS 4.5.1), the last good zone left distributed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from tldsec.cycle.result import CycleResult, Outcome, RunLog
from tldsec.cycle.state import CycleState, write_atomic
from tldsec.distribute.store import ZoneStore, remove_candidate
from tldsec.errors import ZoneError
from tldsec.filedigest import Checked
from tldsec.hsm.base import KeyStore
from tldsec.progress import progress_lines
from tldsec.settings import Settings
from tldsec.verify.gate import GateResult
from tldsec.verify.insecure import InsecureByDesign
from tldsec.verify.options import KeyOpener, VerifyOptions, VerifyRequest
from tldsec.zonegate import gate
from tldsec.zonehome import ZoneHome

log = logging.getLogger("tldsec.cycle")


class VerifyStage:
    """The verify stage of ``Cycle`` (which provides these attributes and methods)."""

    settings: Settings
    store: ZoneStore
    keystore: KeyStore | None
    opener: KeyOpener | None
    recorder: Any

    @property
    def paths(self) -> ZoneHome:
        raise NotImplementedError

    @property
    def state_path(self) -> Path:
        raise NotImplementedError

    def state(self) -> CycleState:
        raise NotImplementedError

    def _record(self, event: str, actor: str, **details: Any) -> None:
        raise NotImplementedError

    def _distrust_build(self, why: str, exc: ZoneError | None = None) -> None:
        raise NotImplementedError

    def _verify_candidate(
        self,
        run: RunLog,
        now: datetime,
        candidate: Path,
        anchor: Path,
        unsigned_path: Path,
        damaged: str | None,
        checked: Checked | None,
        options: VerifyOptions,
        insecure: InsecureByDesign | None = None,
        **meta: object,
    ) -> GateResult:
        """The verify stage of either mode: ``candidate`` through the gate (DPS 6.6),
        staged for the store, its report (with ``meta`` added) saved."""
        assert run.serial is not None
        run.enter("verify")
        request = VerifyRequest(
            signed=candidate,
            origin=self.settings.origin,
            trust_anchor=anchor,
            unsigned=unsigned_path,
            previous=None if damaged else self.store.current_path(),
        )
        verdict = gate(
            request,
            options,
            now,
            publish_to=self.store.stage_path(run.serial),
            keystore=self.keystore,
            opener=self.opener,
            recorder=self.recorder,
            previous_checked=checked,
            progress=progress_lines("cycle: verify"),
            insecure=insecure,
        )
        verdict.report.meta.update(meta)
        self._save_report(verdict.report.to_json(), run.serial)
        return verdict

    def _refuse(
        self, run: RunLog, reason: str, candidate: Path, verdict: GateResult
    ) -> CycleResult:
        """A refused candidate: the build distrusted, the file kept aside, an incident
        (DPS 4.5.1); the last good zone stays distributed."""
        self._distrust_build(f"serial {run.serial} failed verification")
        kept = candidate.with_suffix(".refused")
        os.replace(candidate, kept)
        remove_candidate(candidate)
        return self._incident(run, reason, verdict.report.failed_checks, kept)

    def _incident(
        self, run: RunLog, reason: str, failed: tuple[str, ...], kept: Path
    ) -> CycleResult:
        message = f"serial {run.serial} failed verification ({', '.join(failed)})"
        result = run.result(Outcome.REFUSED, reason, error=message)
        incident = {
            "at": run.started.isoformat(),
            "serial": run.serial,
            "failed_checks": list(failed),
            "candidate": str(kept),
            "report": str(self.paths.reports / f"{run.serial}.json"),
            "kept_serial": run.distributed,
        }
        state = self.state()
        CycleState(**{**asdict(state), "incident": incident}).save(self.state_path)
        # DPS 4.5.1: inaccurate data found before publication is an incident.
        log.error("INCIDENT %s; serial %s stays distributed", message, run.distributed)
        self._record(
            "cycle.failed", "component:cycle", serial=run.serial, stage="verify", error=message
        )
        return result

    def _save_report(self, text: str, serial: int) -> None:
        reports = self.paths.reports
        reports.mkdir(parents=True, exist_ok=True)
        write_atomic(reports / f"{serial}.json", text + "\n")
        write_atomic(self.paths.last_report, text + "\n")
        for old in sorted(reports.glob("*.json"), key=lambda p: p.stat().st_mtime)[:-50]:
            old.unlink(missing_ok=True)
