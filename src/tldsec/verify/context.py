"""One verification run's inputs (``RunContext``, built once by the driver and handed to
every plan), the apex context every check needs, and a plan's ``Outcome`` (decision 55).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from tldsec.clock import to_epoch
from tldsec.dnscore.zone import Zone
from tldsec.errors import ZoneSyntaxError
from tldsec.hsm.base import KeyStore
from tldsec.verify.external import Invocation
from tldsec.verify.options import KeyOpener, VerifyOptions, VerifyRequest
from tldsec.verify.report import CheckResult, Finding, Report, since
from tldsec.verify.second import NAME as SECOND
from tldsec.verify.second import SecondSetup
from tldsec.verify.workers import Progress, ProgressFor
from tldsec.verify.zoneread import ReadResult, read_zone_file

ZONE_FILE = "zone-file"  # the check that the file parses (every driver reports it)


@dataclass(slots=True)
class Outcome:
    """What a plan of a run found: its checks, the candidate's serial, facts for the
    report's ``meta`` (``driver``)."""

    checks: list[CheckResult] = field(default_factory=list)
    serial: int | None = None
    meta: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunContext:
    """The inputs of one run, shared by every check in it."""

    request: VerifyRequest
    options: VerifyOptions
    now: datetime
    keystore: KeyStore | None = None
    opener: KeyOpener | None = None
    progress: ProgressFor | None = None

    @property
    def origin(self) -> str:
        """The origin, absolute."""
        origin = self.request.origin
        return origin if origin.endswith(".") else origin + "."

    @property
    def now_s(self) -> int:
        return to_epoch(self.now)

    @property
    def horizon_s(self) -> int:
        """Signatures must not expire before this (DPS 6.5: the next cycle plus margin)."""
        return self.now_s + int(self.options.horizon_delta().total_seconds())

    def invocation(self) -> Invocation:
        """How the external validators are run on ``request.signed``."""
        request = self.request
        horizon = self.horizon_s - self.now_s
        return Invocation(request.signed, self.origin, request.trust_anchor, self.now_s, horizon)

    def read_whole(self) -> tuple[ReadResult | None, CheckResult]:
        """The signed file read whole into this process (None if it does not parse), and
        the ``zone-file`` check."""
        t = time.perf_counter()
        try:
            read = read_zone_file(self.request.signed, self.origin)
        except ZoneSyntaxError as exc:
            return None, CheckResult.from_findings(ZONE_FILE, [Finding("", "", str(exc))], since(t))
        return read, CheckResult.from_findings(ZONE_FILE, read.findings, since(t))

    def progress_for(self, what: str) -> Progress | None:
        """Where the long part ``what`` of the run reports how far it is, if anywhere."""
        return self.progress(what) if self.progress is not None else None

    def second_setup(
        self, apex: Zone, serial: int | None, sample: int | None, total_bytes: int
    ) -> SecondSetup | CheckResult:
        """What the second implementation re-signs with in this run (``sample`` RRsets of
        a file of ``total_bytes``; None: every one), or why it does not run."""
        if self.keystore is None:
            return CheckResult.skipped(
                SECOND, "no key store given: nothing to sign a second time with"
            )
        if self.options.second_sample == 0:
            return CheckResult.skipped(SECOND, "disabled ([verify] second_sample = 0)")
        return SecondSetup.build(
            apex,
            self.keystore,
            self.opener,
            sample,
            serial or 0,
            total_bytes,
            self.options.unpublished_signers,
        )

    def report(self, outcome: Outcome, started: float) -> Report:
        """The run's report; ``started`` is its ``time.perf_counter()`` at the start."""
        return Report(
            origin=self.origin.lower(),
            zone_file=self.request.display_name or str(self.request.signed),
            serial=outcome.serial,
            checks=tuple(outcome.checks),
            verified_at=self.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            seconds=time.perf_counter() - started,
            meta=outcome.meta,
        )
