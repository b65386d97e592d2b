"""The verification gate decides: a signed zone reaches distribution only if every check
passed (DPS 6.6); a failing one is refused, the last good zone stays, and the refusal is
recorded as an incident (DPS 4.5.1, 4.5.2).

``judge`` verifies the candidate (on the copy its caller staged, incrementally when
``mode`` allows) and returns the verdict; it writes no file. ``account`` logs it and
hands its event to ``recorder``. ``zonegate.gate`` publishes between the two (decision
71; docs/verify.md, "The gate").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from tldsec.errors import VerificationFailed
from tldsec.filedigest import Checked
from tldsec.hsm.base import KeyStore
from tldsec.verify import mode
from tldsec.verify.driver import verify_incremental, verify_insecure, verify_zone
from tldsec.verify.insecure import InsecureByDesign
from tldsec.verify.options import KeyOpener, VerifyOptions, VerifyRequest
from tldsec.verify.regions import order_problem
from tldsec.verify.report import Report
from tldsec.verify.workers import ProgressFor
from tldsec.zonefiles import Passed, Staged, Verified

log = logging.getLogger("tldsec.verify.gate")

EVENT_PASSED = "zone.verified"  # the audit catalogue's names (audit/events.py)
EVENT_REFUSED = "zone.verification_failed"
ACTOR = "component:verifier"
Recorder = Callable[..., object]


@dataclass(frozen=True, slots=True)
class GateResult:
    """The report, where the zone was published (None if it was not), and for a staged
    copy that passed, what its publication's record says (``judge`` returns it, the
    caller publishes it)."""

    report: Report
    published: Path | None
    passed_record: Passed | None = None

    @property
    def passed(self) -> bool:
        return self.report.passed

    @property
    def incremental(self) -> bool:
        """Whether the incremental mode ran: it compared every byte outside the zone
        patch's edits with the previous published file."""
        verification = self.report.meta.get("verification")
        return isinstance(verification, dict) and verification.get("mode") == mode.INCREMENTAL

    def raise_if_refused(self) -> None:
        """``VerificationFailed`` naming the failed checks, if the zone was refused."""
        if not self.report.passed:
            raise VerificationFailed(
                f"signed zone {self.report.zone_file} (serial {self.report.serial}) failed "
                f"verification ({', '.join(self.report.failed_checks)}); it was not "
                "distributed and the last good zone stays published"
            )


def judge(
    request: VerifyRequest,
    options: VerifyOptions,
    now: datetime,
    *,
    staged: Staged | None = None,
    previous_state: Verified | None = None,
    keystore: KeyStore | None = None,
    opener: KeyOpener | None = None,
    previous_checked: Checked | None = None,
    progress: ProgressFor | None = None,
    insecure: InsecureByDesign | None = None,
) -> GateResult:
    """Verify the candidate (``request.signed``), on ``staged``'s copy if there is one.

    ``previous_state``: the record beside the publication target (``zonefiles``);
    ``previous_checked``: the caller's proof, in this process, that the previous zone
    equals its digest record (taken only if the file is untouched since); ``progress``:
    how far a full verification is (an incremental one is proportional to the changes).
    ``insecure``: the zone fact of going insecure's last step; only with it is the
    candidate verified as an unsigned zone (``verify/insecure.py``, DPS 4.6)."""
    if insecure is not None:
        decision = mode.Decision(mode.FULL, "insecure by design: the zone is published unsigned")
    elif staged is not None:
        decision = mode.decide(
            request,
            options,
            now,
            previous_state,
            request.signed,
            previous_checked=previous_checked,
        )
    else:
        decision = mode.Decision(mode.FULL, "no publication target: no record to build on")
    if decision.previous_damaged is not None:
        # DPS 4.5.1: published bytes that changed after verification are an incident.
        log.error(
            "INCIDENT verification gate: %s; verifying the candidate in full",
            decision.previous_damaged,
        )
    fingerprint = mode.fingerprint(request, options, request.signed)
    if staged is not None:
        request = replace(request, signed=staged.path, display_name=str(request.signed))
    if insecure is not None:
        report = verify_insecure(request, options, now, insecure)
    else:
        report = _verify(request, options, now, decision, keystore, opener, progress)
    report.meta["staging_seconds"] = round(staged.seconds if staged else 0.0, 3)
    if staged is not None:
        report.meta["sha256"] = staged.digest.sha256
    if decision.previous_damaged is not None:
        report.meta["previous_damaged"] = decision.previous_damaged
    if not report.passed or staged is None:
        return GateResult(report, None)
    cuttable = decision.mode == mode.INCREMENTAL or (
        options.incremental and _cuttable(staged.path, request.origin, report)
    )
    builds_on = previous_state if decision.mode == mode.INCREMENTAL else None
    return GateResult(
        report, None, Passed(decision.mode, builds_on, report.serial, fingerprint, cuttable)
    )


def _verify(
    request: VerifyRequest,
    options: VerifyOptions,
    now: datetime,
    decision: mode.Decision,
    keystore: KeyStore | None,
    opener: KeyOpener | None,
    progress: ProgressFor | None,
) -> Report:
    if decision.mode == mode.INCREMENTAL:
        assert decision.patch is not None
        return verify_incremental(
            request, options, now, decision.patch, decision.reason, keystore=keystore, opener=opener
        )
    report = verify_zone(request, options, now, keystore=keystore, opener=opener, progress=progress)
    report.meta["verification"] = {"mode": mode.FULL, "reason": decision.reason}
    return report


def _cuttable(path: Path, origin: str, report: Report) -> bool:
    """Whether the next run may cut this file (see ``regions.order_problem``)."""
    problem = order_problem(path, origin)
    report.meta["verification"]["cuttable"] = problem or True
    return problem is None


def account(result: GateResult, publish_to: Path | None, recorder: Recorder | None) -> None:
    """The verdict's log line and audit event, once the caller published (or not)."""
    report = result.report
    how = report.meta.get("verification", {})
    details: dict[str, object] = {
        "origin": report.origin,
        "serial": report.serial,
        "zone_file": report.zone_file,
        "verified_at": report.verified_at,
        "checks": {c.name: c.status.value for c in report.checks},
        "mode": how.get("mode", mode.FULL),
        "mode_reason": how.get("reason", ""),
        "sha256": report.meta.get("sha256"),
    }
    if "previous_damaged" in report.meta:
        details["previous_damaged"] = report.meta["previous_damaged"]
    if report.meta.get("security"):
        details["security"] = report.meta["security"]  # "insecure-by-design" (DPS 4.6)
        details["unsigned_since"] = report.meta.get("unsigned_since")
    if report.passed:
        where = f"published to {publish_to}" if result.published else "not published (no target)"
        log.info(
            "verification gate: %s serial %s passed every check; %s (%s verification: %s)",
            report.origin,
            report.serial,
            where,
            details["mode"],
            details["mode_reason"],
        )
        details["published_to"] = str(result.published) if result.published else None
        event = EVENT_PASSED
    else:
        failed = {c.name: c.failures for c in report.checks if not c.passed}
        first = next(
            (f"{c.name}: {c.findings[0]}" for c in report.checks if not c.passed and c.findings),
            "",
        )
        keep = f"the last good zone at {publish_to} stays" if publish_to else "nothing published"
        # DPS 4.5.1/4.5.2: a defect that produced inaccurate data is an incident.
        log.error(
            "INCIDENT verification gate refused %s serial %s (%s, %s verification): failed %s; "
            "first: %s; %s",
            report.origin,
            report.serial,
            report.zone_file,
            details["mode"],
            ", ".join(f"{k} ({v})" for k, v in failed.items()),
            first,
            keep,
        )
        details["failed_checks"] = failed
        details["first_finding"] = first
        details["kept"] = str(publish_to) if publish_to else None
        event = EVENT_REFUSED
    if recorder is not None:
        recorder(event, actor=ACTOR, **details)
