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

from tldsec.clock import to_epoch
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import Zone
from tldsec.errors import ZoneSyntaxError
from tldsec.hsm.base import KeyStore
from tldsec.verify import chain, content, coverage, dnskeyset, nsec3chain, sharded, ttl
from tldsec.verify.external import ExternalRun, Invocation
from tldsec.verify.keys import KeySet
from tldsec.verify.options import (
    EXTERNAL_DEFAULT,
    KeyOpener,
    VerifyOptions,
    VerifyRequest,
)
from tldsec.verify.report import CheckResult, Finding, Report
from tldsec.verify.rrsig import SignatureContext
from tldsec.verify.second import NAME as SECOND
from tldsec.verify.second import SecondImplementationCheck
from tldsec.verify.signatures import SignatureCheck
from tldsec.verify.structure import analyse
from tldsec.verify.workers import ProgressFor, collector_paused
from tldsec.verify.zoneread import read_zone_file

ZONE_FILE = "zone-file"

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
    origin = request.origin if request.origin.endswith(".") else request.origin + "."
    now_s = to_epoch(now)
    horizon_s = now_s + int(options.horizon_delta().total_seconds())
    run = _Run()
    external = ExternalRun(
        options.external,
        Invocation(
            zone_file=request.signed,
            origin=origin,
            anchor_file=request.trust_anchor,
            now=now_s,
            horizon_seconds=horizon_s - now_s,
        ),
        options.external_timeout,
    )
    serial: int | None = None
    try:
        with collector_paused():
            serial = _builtin(
                request, options, origin, now_s, horizon_s, run, keystore, opener, progress
            )
    except BaseException:
        external.abandon()
        raise
    run.checks.extend(external.results())
    return Report(
        origin=origin.lower(),
        zone_file=request.display_name or str(request.signed),
        serial=serial,
        checks=tuple(run.checks),
        verified_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        seconds=time.perf_counter() - t0,
        meta=run.meta,
    )


def _builtin(
    request: VerifyRequest,
    options: VerifyOptions,
    origin: str,
    now_s: int,
    horizon_s: int,
    run: _Run,
    keystore: KeyStore | None,
    opener: KeyOpener | None,
    progress: ProgressFor | None,
) -> int | None:
    """Everything but the external validators; returns the candidate's SOA serial."""
    try:
        big = request.signed.stat().st_size >= options.split_bytes
    except OSError:
        big = False
    if big:
        parts = sharded.run_sharded(
            request,
            options,
            origin,
            now_s,
            horizon_s,
            keystore,
            opener,
            options.part_bytes,
            progress,
        )
        if parts is not None:
            run.checks.extend(parts.checks)
            run.meta.update(parts.meta)
            return parts.serial
    return _whole(request, options, origin, now_s, horizon_s, run, keystore, opener, progress)


def _whole(
    request: VerifyRequest,
    options: VerifyOptions,
    origin: str,
    now_s: int,
    horizon_s: int,
    run: _Run,
    keystore: KeyStore | None,
    opener: KeyOpener | None,
    progress: ProgressFor | None,
) -> int | None:
    """The zone read whole into this process."""
    checks = run.checks
    t = time.perf_counter()
    try:
        read = read_zone_file(request.signed, origin)
    except ZoneSyntaxError as exc:
        checks.append(CheckResult.from_findings(ZONE_FILE, [Finding("", "", str(exc))], _since(t)))
        return None
    zone = read.zone
    run.meta["mode"] = "whole zone in one process, RRSIGs on every core"
    run.meta["records"] = read.records
    checks.append(CheckResult.from_findings(ZONE_FILE, read.findings, _since(t)))
    soa = zone.get(zone.origin, RRType.SOA)
    serial = content.soa_serial(soa.rdatas[0]) if soa is not None and soa.rdatas else None
    dnskey = zone.get(zone.origin, RRType.DNSKEY)
    keys = KeySet.from_rdatas(dnskey.rdatas if dnskey is not None else [])
    ctx = SignatureContext(
        origin=zone.origin, keys=keys, now=now_s, horizon=horizon_s, rules=options.rules
    )

    signatures = SignatureCheck(
        zone, ctx, options.workers, progress("signatures (RRsets)") if progress else None
    )
    run.meta["workers"] = signatures.workers
    try:
        _parent_checks(zone, request, options, ctx, run)
    except BaseException:
        signatures.abandon()
        raise
    checks.insert(3, signatures.result())  # after zone-file, chain-of-trust, dnskey
    checks.append(
        second_implementation(zone, options, serial, keystore, opener, options.second_sample)
    )
    return serial


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


def second_implementation(
    zone: Zone,
    options: VerifyOptions,
    serial: int | None,
    keystore: KeyStore | None,
    opener: KeyOpener | None,
    sample: int | None,
) -> CheckResult:
    """The second implementation over ``sample`` RRsets (None: every one), or why not."""
    if keystore is None:
        return CheckResult.skipped(SECOND, "no key store given: nothing to sign a second time with")
    if options.second_sample == 0:
        return CheckResult.skipped(SECOND, "disabled ([verify] second_sample = 0)")
    check = SecondImplementationCheck(
        zone,
        keystore,
        sample=sample,
        seed=serial or 0,
        workers=options.workers,
        opener=opener,
    )
    return check.result()


def _since(t: float) -> float:
    return time.perf_counter() - t
