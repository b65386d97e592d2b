"""The whole-zone plan: a small zone, or any file that cannot be cut into parts, read
into this process as one region; its RRSIGs checked on every core from this process's
memory (``signatures.SignatureCheck``) while this process runs the region's other
checks; then the second implementation re-signs the region's sample.
"""

from __future__ import annotations

from dataclasses import dataclass

from tldsec.dnscore.zone import Zone
from tldsec.verify import content
from tldsec.verify.apexchecks import ApexChecks
from tldsec.verify.context import Outcome, RunContext
from tldsec.verify.part import (
    STRUCTURE_COUNTS,
    PartResult,
    RegionSetup,
    check_region,
    region_checks,
    second_in_process,
)
from tldsec.verify.report import CheckResult
from tldsec.verify.signatures import SignatureCheck
from tldsec.verify.zoneread import ReadResult


def whole_zone(run: RunContext) -> WholeZone | Outcome:
    """The zone read whole, or the outcome of a file that cannot be read; it never
    declines a file."""
    read, zone_file = run.read_whole()
    if read is None:
        return Outcome([zone_file])
    return WholeZone(run, read, read.zone, zone_file)


@dataclass(slots=True)
class WholeZone:
    """The zone in this process, one region, checked once the apex is."""

    run: RunContext
    read: ReadResult
    apex: Zone  # the whole zone
    zone_file: CheckResult

    def check(self, found: ApexChecks) -> Outcome:
        """Every per-region check of the zone, joined with the apex's."""
        run, zone = self.run, self.apex
        request, options = run.request, run.options
        serial = found.serial
        out = Outcome(serial=serial)
        out.meta["mode"] = "whole zone in one process, RRSIGs on every core"
        out.meta["records"] = self.read.records
        sigs = SignatureCheck(
            zone, found.ctx, options.workers, run.progress_for("signatures (RRsets)")
        )
        out.meta["workers"] = sigs.workers
        try:
            region = PartResult(0)
            check_region(RegionSetup.of(run, found), zone, region)
            out.meta.update((key, region.summary.counts[key]) for key in STRUCTURE_COUNTS)
            out.checks = [
                self.zone_file,
                *region_checks(found, region),
                content.check_content_from_file(zone, request.unsigned, request.origin),
            ]
        except BaseException:
            sigs.abandon()
            raise
        out.checks.append(sigs.result())
        out.checks.append(second_in_process(run, found, zone, options.second_sample))
        return out

    def close(self) -> None:
        """Nothing outlives ``check``."""
