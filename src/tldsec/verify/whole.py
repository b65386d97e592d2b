"""The whole-zone plan: the zone as one region, read into this process (``driver``).

A small zone, or any file that cannot be cut into parts, is read whole. The RRSIG check
then forks one worker per core that reads the zone from this process's memory while
this process checks the chain of trust, the DNSKEY RRset, coverage, the NSEC3 chain,
TTLs, the unsigned content and the serial; then the second implementation re-signs its
sample.
"""

from __future__ import annotations

import time
from dataclasses import replace

from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import Zone
from tldsec.errors import ZoneSyntaxError
from tldsec.verify import chain, content, coverage, dnskeyset, nsec3chain, ttl
from tldsec.verify.context import ZONE_FILE, Outcome, RunContext
from tldsec.verify.options import VerifyOptions, VerifyRequest
from tldsec.verify.report import CheckResult, Finding
from tldsec.verify.rrsig import SignatureContext
from tldsec.verify.signatures import SignatureCheck
from tldsec.verify.structure import analyse
from tldsec.verify.zoneread import read_zone_file


def whole_zone(run: RunContext) -> Outcome:
    """Every built-in check on the zone read whole; it never declines a file."""
    request, options = run.request, run.options
    out = Outcome()
    t = time.perf_counter()
    try:
        read = read_zone_file(request.signed, run.origin)
    except ZoneSyntaxError as exc:
        out.checks.append(
            CheckResult.from_findings(ZONE_FILE, [Finding("", "", str(exc))], _since(t))
        )
        return out
    zone = read.zone
    out.meta["mode"] = "whole zone in one process, RRSIGs on every core"
    out.meta["records"] = read.records
    out.checks.append(CheckResult.from_findings(ZONE_FILE, read.findings, _since(t)))
    apex = run.apex(zone)
    out.serial = apex.serial
    signatures = SignatureCheck(
        zone, apex.ctx, options.workers, run.progress_for("signatures (RRsets)")
    )
    out.meta["workers"] = signatures.workers
    try:
        _parent_checks(zone, request, options, apex.ctx, out)
    except BaseException:
        signatures.abandon()
        raise
    out.checks.append(signatures.result())
    out.checks.append(run.second_implementation(zone, apex.serial, options.second_sample))
    return out


def _parent_checks(
    zone: Zone, request: VerifyRequest, options: VerifyOptions, ctx: SignatureContext, out: Outcome
) -> None:
    """The checks this process runs while the workers verify signatures."""
    checks = out.checks
    checks.append(chain.check_chain_from_file(zone, request.trust_anchor, request.origin, ctx))
    checks.append(
        dnskeyset.check_dnskeys(zone.origin, zone.get(zone.origin, RRType.DNSKEY), options.rules)
    )
    structure = analyse(zone)
    out.meta["delegations"] = len(structure.delegations)
    out.meta["occluded_names"] = len(structure.occluded)
    out.meta["empty_non_terminals"] = len(structure.empty_non_terminals)
    out.meta["nsec3_records"] = len(structure.nsec3_owners)
    checks.append(coverage.check_coverage(zone, structure, options.expected))
    checks.append(nsec3chain.check_nsec3(zone, structure, options.rules.denial))
    del structure
    checks.append(ttl.check_ttls(zone, options.rules.ttl))
    if request.unsigned is not None:
        t = time.perf_counter()
        try:
            unsigned = read_zone_file(request.unsigned, request.origin).zone
        except ZoneSyntaxError as exc:
            checks.append(
                CheckResult.from_findings(
                    content.CONTENT, [Finding("", "", f"unsigned zone unusable: {exc}")], _since(t)
                )
            )
        else:
            result = content.check_content(zone, unsigned)
            del unsigned
            checks.append(replace(result, seconds=_since(t)))
    else:
        checks.append(CheckResult.skipped(content.CONTENT, "no unsigned zone given (--unsigned)"))
    checks.append(content.check_serial_from_file(zone, request.previous, request.origin))


def _since(t: float) -> float:
    return time.perf_counter() - t
