"""The apex's checks, run once per run by the driver (decision 55), and the context the
regions are checked in: the signature context, who must sign zone data, the NSEC3 hash
parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import Zone
from tldsec.verify import chain, content, coverage, dnskeyset, nsec3chain, ttl
from tldsec.verify.context import RunContext
from tldsec.verify.coverage import Signers
from tldsec.verify.keys import KeySet
from tldsec.verify.nsec3chain import Nsec3Params
from tldsec.verify.report import CheckResult, Finding
from tldsec.verify.rrsig import SignatureContext


@dataclass(frozen=True, slots=True)
class ApexChecks:
    """The apex's results and the context its regions are checked in."""

    serial: int | None  # the SOA serial (None: no SOA)
    ctx: SignatureContext  # keys, now, horizon, the DPS numbers
    signers: Signers | None  # None without a DNSKEY RRset: zone data coverage not checked
    params: Nsec3Params | None  # None: the NSEC3 records cannot be checked
    chain: CheckResult
    dnskeyset: CheckResult
    serial_check: CheckResult
    nsec3param: tuple[Finding, ...]
    coverage: tuple[Finding, ...]
    ttl: tuple[Finding, ...]


def check_apex(run: RunContext, zone: Zone) -> ApexChecks:
    """Every apex check of ``zone`` (the whole zone, its apex, or the regions holding it)."""
    request, options, origin = run.request, run.options, zone.origin
    soa = zone.get(origin, RRType.SOA)
    dnskey = zone.get(origin, RRType.DNSKEY)
    # An algorithm rollover's keys that sign unpublished verify their RRSIGs too.
    keys = KeySet.from_rdatas(
        dnskey.rdatas if dnskey is not None else [], options.unpublished_signers
    )
    ctx = SignatureContext(origin, keys, run.now_s, run.horizon_s, options.rules)
    param_findings, params = nsec3chain.param_check(
        origin, zone.get(origin, RRType.NSEC3PARAM), options.rules.denial
    )
    return ApexChecks(
        serial=content.soa_serial(soa.rdatas[0]) if soa is not None and soa.rdatas else None,
        ctx=ctx,
        signers=Signers.from_apex(zone, options.expected) if dnskey is not None else None,
        params=params,
        chain=chain.check_chain_from_file(zone, request.trust_anchor, request.origin, ctx),
        dnskeyset=dnskeyset.check_dnskeys(origin, dnskey, options.rules),
        serial_check=content.check_serial_from_file(zone, request.previous, request.origin),
        nsec3param=tuple(param_findings),
        coverage=tuple(coverage.apex_coverage(zone, options.expected)),
        ttl=tuple(ttl.apex_ttls(zone, options.rules.ttl)),
    )
