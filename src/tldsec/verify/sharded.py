"""A big zone verified in parts, on every core: the same checks, mapped and reduced.

A signed zone as the signer writes it (one record per line, owners in canonical order,
no directives after the header) splits at owner names one label below the apex: every
part then holds whole subtrees, so a delegation and its glue, or a name and its empty
non-terminals, are always in the same part. Each worker process reads its parts from
the file itself and runs every per-record check on them (RRSIGs, coverage, TTLs, the
NSEC3 records, the second implementation, the content digest); the parent checks the
apex (chain of trust, DNSKEY RRset, NSEC3PARAM, serial) and reduces what needs the
whole zone (which NSEC3 belongs to which name, the chain's order, the comparison of
content digests with those of the unsigned zone, which the same workers digest in
parts). The parent never holds the whole zone, so memory stays far below one copy of it.

If the file turns out not to be splittable (see ``split.plan_parts``; or labels below
the apex out of canonical order; or a part that does not parse on its own)
``in_parts`` returns None and the driver reads the zone whole (``whole``).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace

import dns.name
import dns.version

from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import Zone
from tldsec.errors import ZoneSyntaxError
from tldsec.verify import (
    chain,
    content,
    coverage,
    dnskeyset,
    nsec3chain,
    second,
    signatures,
    ttl,
)
from tldsec.verify.context import Outcome, RunContext
from tldsec.verify.coverage import Signers
from tldsec.verify.options import VerifyOptions, VerifyRequest
from tldsec.verify.part import (
    PartResult,
    PartSetup,
    SecondSetup,
    check_part,
    digest_part,
    unsigned_digests,
)
from tldsec.verify.report import CheckResult, Collector, Finding
from tldsec.verify.split import PART_BYTES, Plan, plan_parts
from tldsec.verify.workers import Background, ForkedMap
from tldsec.verify.zoneread import read_zone_file, read_zone_string

log = logging.getLogger(__name__)


def in_parts(run: RunContext, part_bytes: int = PART_BYTES) -> Outcome | None:
    """Every built-in check on ``request.signed`` in parts; None if it cannot be split."""
    t0 = time.perf_counter()
    request, options, origin = run.request, run.options, run.origin
    plan = plan_parts(request.signed, origin, part_bytes)
    if plan is None or len(plan.parts) < 2:
        log.info("%s cannot be checked in parts: reading it whole", request.signed)
        return None
    with open(plan.path, "rb") as f:
        apex_text = f.read(plan.apex_end).decode("utf-8", "replace")
    try:
        apex = read_zone_string(apex_text, origin, default_ttl=plan.default_ttl).zone
    except ZoneSyntaxError:
        return None  # the whole-zone reader will report it, with its line
    context = run.apex(apex)
    dnskey, ctx, serial = context.dnskey, context.ctx, context.serial
    param_findings, params = nsec3chain.param_check(
        apex.origin, apex.get(apex.origin, RRType.NSEC3PARAM), options.rules.denial
    )
    second_setup, second_skip = _second_setup(run, apex, serial, plan)
    if second_setup is None and second_skip is None:
        return None  # a store that workers cannot reopen: the whole-zone path handles it
    setup = PartSetup(
        plan=plan,
        origin=origin,
        ctx=ctx,
        signers=Signers.from_apex(apex, options.expected),
        params=params,
        ttls=ttl.policy_ttls(options.rules.ttl),
        digests=request.unsigned is not None,
        second=second_setup,
    )
    # The unsigned zone is digested in parts by the same workers if it can be cut (its
    # owners' records grouped, no multi-line entries), else read whole by one more process.
    uplan = plan_parts(request.unsigned, origin, part_bytes) if request.unsigned else None
    unsigned_job = None if uplan is not None else _start_unsigned(request)
    n = len(plan.parts)
    uparts = uplan.parts if uplan is not None else ()

    def task(start: int, end: int) -> list[PartResult]:
        return [
            check_part(setup, plan.parts[i]) if i < n else digest_part(uplan, origin, uparts[i - n])  # type: ignore[arg-type]
            for i in range(start, end)
        ]

    try:
        parts: ForkedMap[PartResult] = ForkedMap(
            task, n + len(uparts), options.workers, min_items=2, chunk=1
        )
        # While the workers run: the apex checks.
        chain_result = chain.check_chain_from_file(apex, request.trust_anchor, origin, ctx)
        dnskey_result = dnskeyset.check_dnskeys(apex.origin, dnskey, options.rules)
        apex_coverage = list(coverage.apex_coverage(apex, options.expected))
        serial_result = content.check_serial_from_file(apex, request.previous, origin)
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
    checks = _reduce(
        signed,
        unsigned,
        apex,
        request,
        options,
        param_findings,
        chain_result,
        dnskey_result,
        apex_coverage,
        serial_result,
        unsigned_job,
        second_skip,
    )
    meta: dict[str, object] = {
        "mode": f"in {len(plan.parts)} parts (+ {len(uparts)} of the unsigned zone) on "
        f"{parts.workers} worker(s); a check's seconds are CPU seconds summed over the parts",
        "workers": parts.workers,
        "parts": len(plan.parts),
        "seconds_wall": round(time.perf_counter() - t0, 3),
    }
    for key in ("records", "delegations", "occluded_names", "empty_non_terminals", "nsec3_records"):
        meta[key] = signed.summary.counts.get(key, 0)
    return Outcome(checks, serial, meta)


def _second_setup(
    run: RunContext, apex: Zone, serial: int | None, plan: Plan
) -> tuple[SecondSetup | None, CheckResult | None]:
    """The second implementation's setup, or why it is skipped; (None, None) if the
    parts cannot run it (an in-process store that forked workers cannot reopen)."""
    skipped = run.second_skipped()
    if skipped is not None:
        return None, skipped
    keystore, opener, options = run.keystore, run.opener, run.options
    assert keystore is not None
    spec = keystore.spec
    if opener is None or (spec.backend == "memory" and not spec.token_label):
        return None, None
    dnskey = apex.get(apex.origin, RRType.DNSKEY)
    return (
        SecondSetup(
            keys=second.keys_in_store(
                [*(dnskey.rdatas if dnskey else []), *options.unpublished_signers], keystore
            ),
            origin=dns.name.from_wire(apex.origin, 0)[0],
            sample=options.second_sample,
            seed=serial or 0,
            total_bytes=plan.size,
            store=keystore,
            opener=opener,
            parent=os.getpid(),
        ),
        None,
    )


def _start_unsigned(request: VerifyRequest) -> Background[dict[bytes, bytes] | str] | None:
    if request.unsigned is None:
        return None
    return Background(unsigned_digests, [(request.unsigned, request.origin)])


def _reduce(
    signed: PartResult,
    unsigned: PartResult,
    apex: Zone,
    request: VerifyRequest,
    options: VerifyOptions,
    param_findings: list[Finding],
    chain_result: CheckResult,
    dnskey_result: CheckResult,
    apex_coverage: list[Finding],
    serial_result: CheckResult,
    unsigned_job: Background[dict[bytes, bytes] | str] | None,
    second_skip: CheckResult | None,
) -> list[CheckResult]:
    """The checks of the whole zone from the parts' merged results and the apex's."""
    summary = signed.summary

    def first(findings: list[Finding], merged: Collector) -> Collector:
        c = Collector()
        c.extend(findings)
        c.merge(merged)
        return c

    def seconds(name: str) -> float:
        return summary.seconds.get(name, 0.0)

    counts = summary.counts
    rrsigs, rrsets = counts.get("rrsigs", 0), counts.get("signed_rrsets", 0)
    checks = [
        signed.zone_file.result("zone-file", seconds("zone-file")),
        chain_result,
        dnskey_result,
        first(summary.jitter.findings(options.rules), signed.signatures).result(
            signatures.NAME,
            seconds("signatures"),
            (f"{rrsigs} RRSIGs over {rrsets} RRsets verified in parts",),
        ),
        first(apex_coverage, signed.coverage).result(coverage.NAME, seconds("coverage")),
    ]
    t = time.process_time()
    nsec3 = Collector()
    nsec3.extend(param_findings)
    for p in summary.nsec3:
        nsec3.merge(p.findings)
    if summary.nsec3:
        nsec3.extend(nsec3chain.nsec3_reduce(summary.nsec3, apex.origin))
    checks.append(nsec3.result(nsec3chain.NAME, seconds("nsec3") + _lap(t)))
    checks.append(
        first(ttl.apex_ttls(apex, options.rules.ttl), signed.ttl).result(ttl.NAME, seconds("ttl"))
    )
    checks.append(
        _content(
            signed,
            unsigned,
            request,
            unsigned_job,
            seconds("content") + unsigned.summary.seconds.get("content", 0.0),
        )
    )
    checks.append(serial_result)
    if second_skip is not None:
        checks.append(second_skip)
    else:
        chosen = counts.get("second_rrsets", 0)
        scope = (
            f"all {rrsets} signed RRsets"
            if chosen == rrsets
            else (f"a sample of {chosen} of {rrsets} signed RRsets (apex RRsets always)")
        )
        checks.append(
            signed.second.result(
                second.NAME,
                seconds("second-implementation"),
                (
                    f"dnspython {dns.version.version} re-signed {scope} "
                    f"({counts.get('second_rrsigs', 0)} RRSIGs) through the key store, in parts",
                ),
            )
        )
    return checks


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
        return CheckResult.from_findings(content.CONTENT, [Finding("", "", theirs)], _lap(t))
    ours = signed.summary.digests
    if ours == theirs:
        return CheckResult.from_findings(content.CONTENT, [], part_seconds + _lap(t))
    del ours, theirs
    signed.summary.digests.clear()  # not needed any more: free them before reading whole
    unsigned.summary.digests.clear()
    # They differ: read both zones whole to say exactly where and how.
    assert request.unsigned is not None
    whole_signed = read_zone_file(request.signed, request.origin).zone
    whole_unsigned = read_zone_file(request.unsigned, request.origin).zone
    return replace(
        content.check_content(whole_signed, whole_unsigned), seconds=part_seconds + _lap(t)
    )


def _lap(t: float) -> float:
    return time.process_time() - t
