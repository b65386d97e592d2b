"""verify_zone: every check of a signed zone, one report (DPS 6.6).

The enabled external validators start first (separate processes). A zone of at least
``split_bytes`` that the signer wrote is checked in parts on every core (``sharded``);
any other is read whole: the RRSIG check then forks one worker per core that reads
the zone from the parent's memory while the parent checks the chain of trust,
coverage, the NSEC3 chain, TTLs, the unsigned content and the serial; then the second
implementation re-signs its sample. Last, the validators' verdicts are collected.
Nothing stops at the first failure: every check runs and reports all it finds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime

from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import Zone
from tldsec.errors import ZoneSyntaxError
from tldsec.hsm.base import KeyStore
from tldsec.verify import chain, content, coverage, dnskeyset, nsec3chain, sharded, ttl
from tldsec.verify.context import ZONE_FILE, RunContext
from tldsec.verify.external import ExternalRun, Invocation
from tldsec.verify.options import (
    EXTERNAL_DEFAULT,
    KeyOpener,
    VerifyOptions,
    VerifyRequest,
)
from tldsec.verify.report import CheckResult, Finding, Report
from tldsec.verify.rrsig import SignatureContext
from tldsec.verify.signatures import SignatureCheck
from tldsec.verify.structure import analyse
from tldsec.verify.workers import ProgressFor, collector_paused
from tldsec.verify.zoneread import read_zone_file

__all__ = [
    "EXTERNAL_DEFAULT",
    "KeyOpener",
    "VerifyOptions",
    "VerifyRequest",
    "verify_zone",
]


@dataclass(slots=True)
class _Run:
    checks: list[CheckResult] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)


def verify_zone(
    request: VerifyRequest,
    options: VerifyOptions,
    now: datetime,
    *,
    keystore: KeyStore | None = None,
    opener: KeyOpener | None = None,
    progress: ProgressFor | None = None,
) -> Report:
    """Run every check on ``request.signed`` at time ``now``; never raises for a bad zone.

    ``keystore`` is needed only by the second-implementation check (skipped without
    it); ``opener`` lets forked workers open their own sessions on that store;
    ``progress`` hears how far the signature check (or the parts of a split zone) is.
    """
    t0 = time.perf_counter()
    run = RunContext(request, options, now, keystore, opener, progress)
    out = _Run()
    external = ExternalRun(
        options.external,
        Invocation(
            zone_file=request.signed,
            origin=run.origin,
            anchor_file=request.trust_anchor,
            now=run.now_s,
            horizon_seconds=run.horizon_s - run.now_s,
        ),
        options.external_timeout,
    )
    serial: int | None = None
    try:
        with collector_paused():
            serial = _builtin(run, out)
    except BaseException:
        external.abandon()
        raise
    out.checks.extend(external.results())
    return run.report(out.checks, serial, out.meta, t0)


def _builtin(run: RunContext, out: _Run) -> int | None:
    """Everything but the external validators; returns the candidate's SOA serial."""
    try:
        big = run.request.signed.stat().st_size >= run.options.split_bytes
    except OSError:
        big = False
    if big:
        parts = sharded.run_sharded(run, run.options.part_bytes)
        if parts is not None:
            out.checks.extend(parts.checks)
            out.meta.update(parts.meta)
            return parts.serial
    return _whole(run, out)


def _whole(run: RunContext, out: _Run) -> int | None:
    """The zone read whole into this process."""
    request, options = run.request, run.options
    checks = out.checks
    t = time.perf_counter()
    try:
        read = read_zone_file(request.signed, run.origin)
    except ZoneSyntaxError as exc:
        checks.append(CheckResult.from_findings(ZONE_FILE, [Finding("", "", str(exc))], _since(t)))
        return None
    zone = read.zone
    out.meta["mode"] = "whole zone in one process, RRSIGs on every core"
    out.meta["records"] = read.records
    checks.append(CheckResult.from_findings(ZONE_FILE, read.findings, _since(t)))
    apex = run.apex(zone)
    signatures = SignatureCheck(
        zone, apex.ctx, options.workers, run.progress_for("signatures (RRsets)")
    )
    out.meta["workers"] = signatures.workers
    try:
        _parent_checks(zone, request, options, apex.ctx, out)
    except BaseException:
        signatures.abandon()
        raise
    checks.insert(3, signatures.result())  # after zone-file, chain-of-trust, dnskey
    checks.append(run.second_implementation(zone, apex.serial, options.second_sample))
    return apex.serial


def _parent_checks(
    zone: Zone, request: VerifyRequest, options: VerifyOptions, ctx: SignatureContext, run: _Run
) -> None:
    """The checks the parent runs while the workers verify signatures."""
    checks = run.checks
    checks.append(chain.check_chain_from_file(zone, request.trust_anchor, request.origin, ctx))
    checks.append(
        dnskeyset.check_dnskeys(zone.origin, zone.get(zone.origin, RRType.DNSKEY), options.rules)
    )
    structure = analyse(zone)
    run.meta["delegations"] = len(structure.delegations)
    run.meta["occluded_names"] = len(structure.occluded)
    run.meta["empty_non_terminals"] = len(structure.empty_non_terminals)
    run.meta["nsec3_records"] = len(structure.nsec3_owners)
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
