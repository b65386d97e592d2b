"""A big zone verified in parts, on every core: the region checks mapped and reduced.

``regions.plan_parts`` cuts the file into whole subtrees; each worker reads and checks
its parts (``part.check_part``) and digests the unsigned zone's; this plan reduces what
needs the whole zone. The parent never holds the whole zone. A file that turns out not
to be splittable is declined (None): the driver reads it whole (docs/verify.md, "How it
is fast").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from tldsec.dnscore.zone import Zone
from tldsec.errors import ZoneSyntaxError
from tldsec.verify import content, second, signatures
from tldsec.verify.apexchecks import ApexChecks
from tldsec.verify.context import ZONE_FILE, Outcome, RunContext
from tldsec.verify.options import VerifyRequest
from tldsec.verify.part import (
    STRUCTURE_COUNTS,
    PartResult,
    RegionSetup,
    check_part,
    digest_part,
    region_checks,
    unsigned_digests,
)
from tldsec.verify.regions import Plan, plan_parts
from tldsec.verify.report import CheckResult, Collector, Finding, cpu_since
from tldsec.verify.second import SecondSetup
from tldsec.verify.workers import Background, ForkedMap
from tldsec.verify.zoneread import read_zone_file, read_zone_string

log = logging.getLogger(__name__)


def in_parts(run: RunContext) -> InParts | None:
    """``request.signed`` cut into parts with its apex read; None if it cannot be cut."""
    t0 = time.perf_counter()
    request, origin = run.request, run.origin
    plan = plan_parts(request.signed, origin, run.options.part_bytes)
    if plan is None or len(plan.parts) < 2:
        log.info("%s cannot be checked in parts: reading it whole", request.signed)
        return None
    with open(plan.path, "rb") as f:
        apex_text = f.read(plan.apex_end).decode("utf-8", "replace")
    try:
        apex = read_zone_string(apex_text, origin, default_ttl=plan.default_ttl).zone
    except ZoneSyntaxError:
        return None  # the whole-zone reader will report it, with its line
    return InParts(run, plan, apex, t0)


@dataclass(slots=True)
class InParts:
    """The parts of a file, checked in worker processes once the apex is."""

    run: RunContext
    plan: Plan
    apex: Zone
    started: float

    def check(self, found: ApexChecks) -> Outcome | None:
        """Every part's checks, reduced with the apex's; None if the parts turn out not
        to be whole subtrees in canonical order (the driver then reads the file whole)."""
        run, plan = self.run, self.plan
        request, options, origin = run.request, run.options, run.origin
        serial = found.serial
        second_setup = run.second_setup(self.apex, serial, options.second_sample, plan.size)
        if isinstance(second_setup, SecondSetup) and not second_setup.forks:
            return None  # a store that workers cannot reopen: the whole-zone plan handles it
        setup = RegionSetup.of(
            run,
            found,
            plan=plan,
            digests=request.unsigned is not None,
            second=second_setup if isinstance(second_setup, SecondSetup) else None,
        )
        # The unsigned zone is digested in parts by the same workers if it can be cut (its
        # owners' records grouped, no multi-line entries), else read whole by one more
        # process.
        uplan = (
            plan_parts(request.unsigned, origin, options.part_bytes) if request.unsigned else None
        )
        unsigned_job = (
            Background(unsigned_digests, [(request.unsigned, request.origin)])
            if request.unsigned is not None and uplan is None
            else None
        )
        n = len(plan.parts)
        uparts = uplan.parts if uplan is not None else ()

        def task(start: int, end: int) -> list[PartResult]:
            return [
                check_part(setup, plan.parts[i])
                if i < n
                else digest_part(uplan, origin, uparts[i - n])  # type: ignore[arg-type]
                for i in range(start, end)
            ]

        try:
            parts: ForkedMap[PartResult] = ForkedMap(
                task, n + len(uparts), options.workers, min_items=2, chunk=1
            )
            results = parts.result(run.progress_for("parts"))
        except BaseException:
            if unsigned_job is not None:
                unsigned_job.close()
            raise
        signed, unsigned = PartResult(-1), PartResult(-1, unsigned=True)
        for r in results:
            (unsigned if r.unsigned else signed).merge(r)
        if not signed.splittable or not signed.summary.ordered:
            if unsigned_job is not None:
                unsigned_job.close()
            log.info("%s is not in canonical order: reading it whole", request.signed)
            return None
        summary = signed.summary
        counts, seconds = summary.counts, summary.seconds
        checks = region_checks(found, signed)
        rrsigs, rrsets = counts.get("rrsigs", 0), counts.get("signed_rrsets", 0)
        jittered = Collector()
        jittered.extend(summary.jitter.findings(options.rules))
        jittered.merge(signed.signatures)
        checks += [
            signed.zone_file.result(ZONE_FILE, seconds.get("zone-file", 0.0)),
            jittered.result(
                signatures.NAME,
                seconds.get("signatures", 0.0),
                (f"{rrsigs} RRSIGs over {rrsets} RRsets verified in parts",),
            ),
            _content(
                signed,
                unsigned,
                request,
                unsigned_job,
                seconds.get("content", 0.0) + unsigned.summary.seconds.get("content", 0.0),
            ),
            second_setup
            if isinstance(second_setup, CheckResult)
            else second.result(signed.second, counts, seconds.get(second.NAME, 0.0), ", in parts"),
        ]
        meta: dict[str, object] = {
            "mode": f"in {n} parts (+ {len(uparts)} of the unsigned zone) on "
            f"{parts.workers} worker(s); a check's seconds are CPU seconds summed over the "
            "parts",
            "workers": parts.workers,
            "parts": n,
            "seconds_wall": round(time.perf_counter() - self.started, 3),
            "records": counts.get("records", 0),
        }
        meta.update((key, counts.get(key, 0)) for key in STRUCTURE_COUNTS)
        return Outcome(checks, serial, meta)

    def close(self) -> None:
        """Nothing outlives ``check``."""


def _content(
    signed: PartResult,
    unsigned: PartResult,
    request: VerifyRequest,
    job: Background[dict[bytes, bytes] | str] | None,
    part_seconds: float,
) -> CheckResult:
    if request.unsigned is None:
        return CheckResult.skipped(content.CONTENT, "no unsigned zone given (--unsigned)")
    t = time.process_time()
    theirs: dict[bytes, bytes] | str
    if job is not None:
        (theirs,) = job.results()
    else:
        broken = unsigned.zone_file.kept
        theirs = broken[0].reason if broken else unsigned.summary.digests
        if isinstance(theirs, dict) and (
            unsigned.summary.digested != len(theirs) or not unsigned.splittable
        ):
            theirs = {}  # an owner's records in two places: compare the zones whole
    if isinstance(theirs, str):
        return CheckResult.from_findings(content.CONTENT, [Finding("", "", theirs)], cpu_since(t))
    ours = signed.summary.digests
    if ours == theirs:
        return CheckResult.from_findings(content.CONTENT, [], part_seconds + cpu_since(t))
    del ours, theirs
    signed.summary.digests.clear()  # not needed any more: free them before reading whole
    unsigned.summary.digests.clear()
    # They differ: read both zones whole to say exactly where and how.
    assert request.unsigned is not None
    whole_signed = read_zone_file(request.signed, request.origin).zone
    whole_unsigned = read_zone_file(request.unsigned, request.origin).zone
    return replace(
        content.check_content(whole_signed, whole_unsigned), seconds=part_seconds + cpu_since(t)
    )
