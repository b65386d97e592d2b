"""The insecure-by-design plan: an unsigned zone, verified as one (DPS 4.6, 6.6).

After going insecure's last step the cycle publishes the zone with no DNSSEC record
(``signer/unsigned.py``). The gate cannot check signatures that are not there; it checks
instead that the zone is exactly the unsigned zone the registry built and that nothing
is left of DNSSEC, and it accepts an unsigned zone only on the zone fact of the last
step (``InsecureByDesign``, read by the cycle from the key manager's
``unsigned_since``): an unsigned TLD is never published because of a setting. Without
the fact the ordinary checks run and refuse the zone (no DNSKEY: no chain of trust).

Checks, each reporting every finding:

* ``zone-file``: the candidate parses (``zoneread``, each problem a finding);
* ``insecure-by-design``: the fact is given and not in the future, and the trust anchor
  (what the key manager says the parent holds) names no key: a parent that still held
  a DS would make every answer bogus (RFC 4035 5.2);
* ``no-dnssec``: no DNSKEY, RRSIG, NSEC, NSEC3 or NSEC3PARAM anywhere (RFC 4035 2);
* ``ttl``, ``content``, ``serial``: as for a signed zone (DPS 6.7; the zone equals the
  builder's output record for record; the SOA serial increased, RFC 1982).

The zone is one region (decision 55: only its TTLs apply); the external validators and
the second implementation have nothing to validate and are reported skipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tldsec.dnscore import names
from tldsec.dnscore.types import type_text
from tldsec.dnscore.zone import Zone
from tldsec.verify import content, ttl
from tldsec.verify.apexchecks import ApexChecks
from tldsec.verify.context import Outcome, RunContext
from tldsec.verify.part import PartResult, RegionSetup, check_region, joined
from tldsec.verify.report import CheckResult, Finding, since
from tldsec.verify.second import NAME as SECOND
from tldsec.verify.structure import DNSSEC_ADDED

MODE = "insecure-by-design"  # the report's verification mode, and the check's name
NO_DNSSEC = "no-dnssec"
EXTERNAL = "external-validators"


@dataclass(frozen=True, slots=True)
class InsecureByDesign:
    """The zone fact that lets the gate accept an unsigned zone: going insecure's last
    step (every DS gone from the parent and from caches, every key retired) was taken
    at ``since`` (the key manager's ``unsigned_since``, decision 46)."""

    since: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None:
            raise ValueError("unsigned_since must be timezone-aware (UTC)")


def unsigned_zone(run: RunContext, fact: InsecureByDesign | None) -> UnsignedZone | Outcome:
    """The insecure-by-design plan: the zone read whole as one region, or the outcome of a
    file that cannot be read; it never declines a file."""
    meta: dict[str, object] = {
        "mode": "unsigned zone, read whole",
        "security": MODE,
        "unsigned_since": None if fact is None else fact.since.isoformat(),
        "verification": {"mode": MODE, "reason": "the zone is published unsigned (DPS 4.6)"},
    }
    given = _fact(fact, run.now, run.request.trust_anchor)
    read, zone_file = run.read_whole()
    if read is None:
        return Outcome([given, zone_file], None, meta)
    meta["records"] = read.records
    return UnsignedZone(run, read.zone, [zone_file, given], meta)


@dataclass(slots=True)
class UnsignedZone:
    """The unsigned zone in this process, one region, checked once the apex is (of the
    apex's checks only the SOA's TTLs and the serial apply: nothing else is there)."""

    run: RunContext
    apex: Zone  # the whole zone
    checks: list[CheckResult]  # the zone file's reading and the zone fact
    meta: dict[str, object]

    def check(self, found: ApexChecks) -> Outcome:
        """No DNSSEC record anywhere, TTLs, content and serial as for a signed zone."""
        run, zone = self.run, self.apex
        request = run.request
        region = PartResult(0)
        setup = RegionSetup.of(run, found, nsec3=False, signed=False)  # nothing is signed
        check_region(setup, zone, region)
        self.meta["delegations"] = region.summary.counts["delegations"]
        self.meta["occluded_names"] = region.summary.counts["occluded_names"]
        checks = [
            *self.checks,
            _no_dnssec(zone),
            joined(found.ttl, region.ttl).result(ttl.NAME, region.summary.seconds["ttl"]),
            content.check_content_from_file(zone, request.unsigned, request.origin),
            found.serial_check,
            CheckResult.skipped(EXTERNAL, "an unsigned zone: no signature to validate"),
            CheckResult.skipped(SECOND, "an unsigned zone: nothing to sign again"),
        ]
        return Outcome(checks, found.serial, self.meta)

    def close(self) -> None:
        """Nothing outlives ``check``."""


def _fact(fact: InsecureByDesign | None, now: datetime, anchor: Path) -> CheckResult:
    """The zone fact given and not in the future; the parent holding no DS (RFC 4035 5.2)."""
    t0 = time.perf_counter()
    findings: list[Finding] = []
    if fact is None:
        findings.append(
            Finding(
                "",
                "",
                "no zone fact says going insecure's last step was taken: an unsigned zone is "
                "published only after 'tldsec keys go-insecure' has withdrawn every DS and "
                "the key manager retired every key (decision 46)",
            )
        )
    elif fact.since > now:
        findings.append(
            Finding("", "", f"the zone is unsigned only from {fact.since.isoformat()}, after now")
        )
    try:
        text = anchor.read_text(encoding="utf-8")
    except OSError as exc:
        findings.append(Finding("", "", f"the trust anchor file cannot be read: {exc}"))
    else:
        held = [line for line in text.splitlines() if line.strip() and not line.startswith(";")]
        for line in held[:3]:
            findings.append(
                Finding(
                    "",
                    "DS",
                    f"the parent should still hold {line.split(maxsplit=1)[0]}'s key "
                    f"({line.strip()}): a validator holding it finds the unsigned zone bogus",
                )
            )
    return CheckResult.from_findings(MODE, findings, since(t0))


def _no_dnssec(zone: Zone) -> CheckResult:
    t0 = time.perf_counter()
    findings: list[Finding] = []
    for owner, node in zone.nodes.items():
        for rrset in node:
            if rrset.rtype in DNSSEC_ADDED:
                findings.append(
                    Finding(
                        names.to_text(owner),
                        type_text(rrset.rtype),
                        "a DNSSEC record in a zone published unsigned",
                    )
                )
            if rrset.sigs:
                findings.append(
                    Finding(
                        names.to_text(owner),
                        "RRSIG",
                        f"{len(rrset.sigs)} signature(s) over {type_text(rrset.rtype)} in a "
                        "zone published unsigned",
                    )
                )
    return CheckResult.from_findings(NO_DNSSEC, findings, since(t0))
