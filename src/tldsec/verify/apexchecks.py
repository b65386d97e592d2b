"""The apex's checks, run once per run by the driver (decision 55), and the context the
regions are checked in: the signature context, who must sign zone data, the NSEC3 hash
parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import Zone
from tldsec.verify import chain, content, coverage, dnskeyset, nsec3chain, ttl
from tldsec.verify.context import Apex, RunContext
from tldsec.verify.coverage import Signers
from tldsec.verify.nsec3chain import Nsec3Params
from tldsec.verify.report import CheckResult, Finding


@dataclass(frozen=True, slots=True)
class ApexChecks:
    """The apex's results and the context its regions are checked in."""

    context: Apex  # serial, DNSKEY RRset, signature context
    signers: Signers | None  # None without a DNSKEY RRset: zone data coverage not checked
    params: Nsec3Params | None  # None: the NSEC3 records cannot be checked
    chain: CheckResult
    dnskeyset: CheckResult
    serial: CheckResult
    nsec3param: tuple[Finding, ...]
    coverage: tuple[Finding, ...]
    ttl: tuple[Finding, ...]


def check_apex(run: RunContext, zone: Zone) -> ApexChecks:
    """Every apex check of ``zone`` (the whole zone, its apex, or the regions holding it)."""
    request, options, origin = run.request, run.options, zone.origin
    context = run.apex(zone)
    param_findings, params = nsec3chain.param_check(
        origin, zone.get(origin, RRType.NSEC3PARAM), options.rules.denial
    )
    return ApexChecks(
        context=context,
        signers=(Signers.from_apex(zone, options.expected) if context.dnskey is not None else None),
        params=params,
        chain=chain.check_chain_from_file(zone, request.trust_anchor, request.origin, context.ctx),
        dnskeyset=dnskeyset.check_dnskeys(origin, context.dnskey, options.rules),
        serial=content.check_serial_from_file(zone, request.previous, request.origin),
        nsec3param=tuple(param_findings),
        coverage=tuple(coverage.apex_coverage(zone, options.expected)),
        ttl=tuple(ttl.apex_ttls(zone, options.rules.ttl)),
    )
