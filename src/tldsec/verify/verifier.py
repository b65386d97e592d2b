"""verify_zone: every check of a signed zone, one report (DPS 6.6).

Order of work: the enabled external validators start first (they are separate
processes); the zone is read once; the RRSIG check forks one worker per core, which
read the zone from the parent's memory; meanwhile the parent checks the chain of trust,
coverage, the NSEC3 chain, TTLs, the unsigned content and the serial; then the second
implementation re-signs its sample; last, the validators' verdicts are collected.
Nothing stops at the first failure: every check runs and reports all it finds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from tldsec.clock import to_epoch
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import Zone
from tldsec.errors import ZoneSyntaxError
from tldsec.hsm.base import KeyStore, KeyStoreSpec
from tldsec.policy import Policy
from tldsec.verify import chain, content, coverage, nsec3chain, ttl
from tldsec.verify.chain import TrustAnchor, load_trust_anchor
from tldsec.verify.coverage import ExpectedSigners
from tldsec.verify.external import ExternalRun, Invocation
from tldsec.verify.keys import KeySet
from tldsec.verify.report import CheckResult, Finding, Report
from tldsec.verify.rrsig import SignatureContext
from tldsec.verify.second import NAME as SECOND
from tldsec.verify.second import SecondImplementationCheck
from tldsec.verify.signatures import NAME as SIGNATURES
from tldsec.verify.signatures import SignatureCheck
from tldsec.verify.structure import analyse
from tldsec.verify.zoneread import read_soa_serial, read_zone_file

log = logging.getLogger(__name__)

ZONE_FILE = "zone-file"
EXTERNAL_DEFAULT = ("ldns-verify-zone", "dnssec-verify", "kzonecheck")
KeyOpener = Callable[[KeyStoreSpec], KeyStore]


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """How to verify: the policy, and the settings of the ``[verify]`` table."""

    policy: Policy
    horizon: timedelta | None = None  # None: the policy's cycle interval + safety margin
    workers: int = 0  # 0: every core
    second_sample: int | None = 2000  # RRsets re-signed by dnspython; None: all of them
    external: tuple[str, ...] = EXTERNAL_DEFAULT
    external_timeout: float = 1800.0
    expected: ExpectedSigners | None = None  # the signing run's key duties, when known

    def horizon_delta(self) -> timedelta:
        if self.horizon is not None:
            return self.horizon
        # DPS 6.5 / policy [cycle]: a signature must outlive the next cycle plus a margin.
        return self.policy.cycle.interval + self.policy.cycle.safety_margin


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """What to verify: the candidate and what it is compared with."""

    signed: Path
    origin: str
    trust_anchor: Path  # DS (what the parent publishes) or DNSKEY records for the apex
    unsigned: Path | None = None
    previous: Path | None = None  # the last good signed zone: its serial must be lower
    display_name: str | None = None  # how the report names the zone file


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
) -> Report:
    """Run every check on ``request.signed`` at time ``now``; never raises for a bad zone.

    ``keystore`` is needed only by the second-implementation check (skipped without
    it); ``opener`` lets its forked workers open their own sessions on that store.
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
        serial = _builtin_checks(request, options, origin, now_s, horizon_s, run, keystore, opener)
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


def _builtin_checks(
    request: VerifyRequest,
    options: VerifyOptions,
    origin: str,
    now_s: int,
    horizon_s: int,
    run: _Run,
    keystore: KeyStore | None,
    opener: KeyOpener | None,
) -> int | None:
    """Everything but the external validators; returns the candidate's SOA serial."""
    checks = run.checks
    t = time.perf_counter()
    try:
        read = read_zone_file(request.signed, origin)
    except ZoneSyntaxError as exc:
        checks.append(CheckResult.from_findings(ZONE_FILE, [Finding("", "", str(exc))], _since(t)))
        return None
    zone = read.zone
    run.meta["records"] = read.records
    run.meta["seconds_read"] = round(_since(t), 3)
    checks.append(CheckResult.from_findings(ZONE_FILE, read.findings, _since(t)))
    soa = zone.get(zone.origin, RRType.SOA)
    serial = content.soa_serial(soa.rdatas[0]) if soa is not None and soa.rdatas else None
    dnskey = zone.get(zone.origin, RRType.DNSKEY)
    keys = KeySet.from_rdatas(dnskey.rdatas if dnskey is not None else [])
    ctx = SignatureContext(origin=zone.origin, keys=keys, now=now_s, horizon=horizon_s)

    signatures = SignatureCheck(zone, ctx, options.workers)
    run.meta["workers"] = signatures.workers
    try:
        _parent_checks(zone, request, options, ctx, run)
    except BaseException:
        signatures.abandon()
        raise
    checks.insert(2, signatures.result())
    checks.append(_second(zone, options, serial, keystore, opener))
    return serial


def _parent_checks(
    zone: Zone, request: VerifyRequest, options: VerifyOptions, ctx: SignatureContext, run: _Run
) -> None:
    """The checks the parent runs while the workers verify signatures."""
    checks = run.checks
    t = time.perf_counter()
    try:
        anchor: TrustAnchor | None = load_trust_anchor(request.trust_anchor, request.origin)
    except ZoneSyntaxError as exc:
        anchor = None
        checks.append(
            CheckResult.from_findings(
                chain.NAME, [Finding("", "", f"trust anchor unusable: {exc}")], _since(t)
            )
        )
    if anchor is not None:
        checks.append(chain.check_chain(zone, anchor, ctx))
    t = time.perf_counter()
    structure = analyse(zone)
    run.meta["seconds_structure"] = round(_since(t), 3)
    run.meta["delegations"] = len(structure.delegations)
    run.meta["authoritative_names"] = len(structure.authoritative)
    run.meta["occluded_names"] = len(structure.occluded)
    run.meta["empty_non_terminals"] = len(structure.empty_non_terminals)
    run.meta["nsec3_records"] = len(structure.nsec3_owners)
    checks.append(coverage.check_coverage(zone, structure, options.expected))
    checks.append(nsec3chain.check_nsec3(zone, structure, options.policy.denial))
    del structure
    checks.append(ttl.check_ttls(zone, options.policy.ttl))
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
            checks.append(_retimed(result, _since(t)))
    else:
        checks.append(CheckResult.skipped(content.CONTENT, "no unsigned zone given (--unsigned)"))
    if request.previous is not None:
        t = time.perf_counter()
        try:
            previous = read_soa_serial(request.previous, request.origin)
        except ZoneSyntaxError as exc:
            checks.append(
                CheckResult.from_findings(
                    content.SERIAL, [Finding("", "", f"previous zone unusable: {exc}")], _since(t)
                )
            )
        else:
            checks.append(_retimed(content.check_serial(zone, previous), _since(t)))
    else:
        checks.append(CheckResult.skipped(content.SERIAL, "no previous zone given (--previous)"))


def _second(
    zone: Zone,
    options: VerifyOptions,
    serial: int | None,
    keystore: KeyStore | None,
    opener: KeyOpener | None,
) -> CheckResult:
    if keystore is None:
        return CheckResult.skipped(SECOND, "no key store given: nothing to sign a second time with")
    if options.second_sample == 0:
        return CheckResult.skipped(SECOND, "disabled ([verify] second_sample = 0)")
    check = SecondImplementationCheck(
        zone,
        keystore,
        sample=options.second_sample,
        seed=serial or 0,
        workers=options.workers,
        opener=opener,
    )
    return check.result()


def _retimed(result: CheckResult, seconds: float) -> CheckResult:
    return replace(result, seconds=seconds)


def _since(t: float) -> float:
    return time.perf_counter() - t


__all__ = [
    "EXTERNAL_DEFAULT",
    "SIGNATURES",
    "VerifyOptions",
    "VerifyRequest",
    "verify_zone",
]
