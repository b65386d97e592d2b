"""The checks of a region (whole subtrees below the apex), the one list every plan maps
(decisions 55, 70): ``check_region`` runs those its ``RegionSetup`` asks for into a
mergeable ``PartResult``; ``region_checks`` joins the merged result with the apex's.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from pathlib import Path

from tldsec.dnscore.zone import RRset, Zone
from tldsec.errors import ZoneSyntaxError
from tldsec.verify import content, coverage, nsec3chain, nsec3edits, second, signatures, ttl
from tldsec.verify.apexchecks import ApexChecks
from tldsec.verify.context import RunContext
from tldsec.verify.coverage import Signers
from tldsec.verify.nsec3chain import Nsec3Params
from tldsec.verify.regions import Part, Plan
from tldsec.verify.report import CheckResult, Collector, Finding, cpu_since, since
from tldsec.verify.rrsig import SignatureContext
from tldsec.verify.second import SecondSetup
from tldsec.verify.structure import Structure, analyse
from tldsec.verify.summary import Summary
from tldsec.verify.zoneread import ReadResult, read_zone_file, read_zone_string

# What ``check_region`` counts of a region's structure, in the report's meta.
STRUCTURE_COUNTS = ("delegations", "occluded_names", "empty_non_terminals", "nsec3_records")


@dataclass(frozen=True, slots=True)
class RegionSetup:
    """What every region is checked against and which checks run in it; handed to
    workers across fork."""

    plan: Plan | None  # where the parts are (None: the region is read already)
    origin: str
    ctx: SignatureContext
    signers: Signers | None  # None: zone data coverage not checked (no DNSKEY RRset)
    params: Nsec3Params | None  # None: no NSEC3 record checked in the region
    ttls: dict[int, int]
    digests: bool  # owner digests of the content, to compare with the unsigned zone's
    second: SecondSetup | None  # the second implementation, on each part's sample
    signatures: bool  # every RRSIG of the region, in the region's process

    @classmethod
    def of(
        cls,
        run: RunContext,
        found: ApexChecks,
        *,
        plan: Plan | None = None,
        nsec3: bool = True,
        signed: bool = True,
        digests: bool = False,
        second: SecondSetup | None = None,
    ) -> RegionSetup:
        """The setup of the run's regions: the parts of ``plan`` (their RRSIGs checked in
        the part), else a region read into this process (its RRSIGs checked beside it on
        every core, ``signatures.SignatureCheck``); its NSEC3 records here only if
        ``nsec3``, zone data coverage only if ``signed``."""
        return cls(
            plan=plan,
            origin=run.origin,
            ctx=found.ctx,
            signers=found.signers if signed else None,
            params=found.params if nsec3 else None,
            ttls=ttl.policy_ttls(run.options.rules.ttl),
            digests=digests,
            second=second,
            signatures=plan is not None,
        )


@dataclass(slots=True)
class PartResult:
    """What one part (a region) contributes to every check: each check's findings and
    the region's ``Summary``; small enough to send to the parent, and mergeable."""

    index: int
    unsigned: bool = False  # a part of the unsigned zone: only its digests
    splittable: bool = True
    zone_file: Collector = field(default_factory=Collector)
    signatures: Collector = field(default_factory=Collector)
    coverage: Collector = field(default_factory=Collector)
    ttl: Collector = field(default_factory=Collector)
    second: Collector = field(default_factory=Collector)
    summary: Summary = field(default_factory=Summary)

    def merge(self, other: PartResult) -> None:
        """Add the result of the part that follows this one in the file."""
        self.splittable = self.splittable and other.splittable
        self.zone_file.merge(other.zone_file)
        self.signatures.merge(other.signatures)
        self.coverage.merge(other.coverage)
        self.ttl.merge(other.ttl)
        self.second.merge(other.second)
        self.summary.merge(other.summary)


def check_part(setup: RegionSetup, part: Part) -> PartResult:
    """Read one part from the file and run every per-region check on it."""
    gc.disable()  # the zone's objects hold no cycles; collections only cost time
    out = PartResult(part.index)
    summary = out.summary
    t = time.process_time()
    assert setup.plan is not None
    try:
        read = _read_part(setup.plan, setup.origin, part)
    except (ZoneSyntaxError, UnicodeDecodeError):
        # Perhaps a real error, perhaps a record that needed the part before (an omitted
        # TTL): the whole-zone reader decides, and names the line.
        out.splittable = False
        return out
    zone = read.zone
    out.zone_file.extend(read.findings)
    # The cut is safe if no subtree below the apex has names in two parts: within a part
    # the labels just below the apex never decrease (canonical order, RFC 4034 6.1), and
    # each part's range of them comes after the one before (checked by the parent).
    tops = _top_labels(zone)
    if tops is None:
        out.splittable = False
        return out
    summary.first_key, summary.last_key = tops
    summary.counts["records"] = read.records
    summary.seconds["zone-file"] = cpu_since(t)
    check_region(setup, zone, out, sample_of=part)
    return out


def check_region(
    setup: RegionSetup,
    zone: Zone,
    out: PartResult,
    *,
    structure: Structure | None = None,
    sample_of: Part | None = None,
) -> None:
    """Every per-region check on ``zone`` (a part, the whole zone or the edited regions),
    into ``out``: those ``setup`` asks for, see ``RegionSetup``."""
    summary = out.summary
    t = time.process_time()
    if structure is None:
        structure = analyse(zone)
    summary.counts["delegations"] = len(structure.delegations)
    summary.counts["occluded_names"] = len(structure.occluded)
    summary.counts["empty_non_terminals"] = len(structure.empty_non_terminals)
    summary.counts["nsec3_records"] = len(structure.nsec3_owners)
    structure_seconds = cpu_since(t)

    signed: list[RRset] = []
    if setup.signatures or setup.second is not None:
        signed = [r for r in zone.rrsets() if r.sigs]
    if setup.signatures:
        t = time.process_time()
        out.signatures.failures, out.signatures.kept = signatures.check_range(
            signed, 0, len(signed), setup.ctx, summary.jitter
        )
        summary.counts["rrsigs"] = sum(len(r.sigs) for r in signed)
        summary.counts["signed_rrsets"] = len(signed)
        summary.seconds["signatures"] = cpu_since(t)

    t = time.process_time()
    if setup.signers is not None:  # RFC 4035 2.2: no DNSKEY RRset, no duties to check
        out.coverage.extend(coverage.data_coverage(zone, structure, setup.signers))
    summary.seconds["coverage"] = cpu_since(t)
    t = time.process_time()
    if setup.params is not None:
        summary.nsec3.append(nsec3chain.nsec3_part(zone, structure, setup.params))
    summary.seconds["nsec3"] = cpu_since(t) + structure_seconds
    del structure
    t = time.process_time()
    out.ttl.extend(ttl.wrong_ttls(zone, setup.ttls))
    summary.seconds["ttl"] = cpu_since(t)
    if setup.digests:
        t = time.process_time()
        summary.digests = content.owner_digests(zone)
        summary.digested = len(summary.digests)
        summary.seconds["content"] = cpu_since(t)
    if setup.second is not None and sample_of is not None:
        t = time.process_time()
        nbytes = sample_of.end - sample_of.start
        check_second(setup.second, signed, out, sample_of.index, nbytes, 1)
        summary.seconds["second-implementation"] = cpu_since(t)


def check_second(
    s: SecondSetup,
    signed: list[RRset],
    out: PartResult,
    index: int,
    nbytes: int,
    workers: int,
) -> int:
    """The second implementation on the sample of a region's ``signed`` RRsets (its
    ``index`` and ``nbytes`` of the file, ``second.choose``), into ``out``; the workers
    it used."""
    chosen = second.choose(s, signed, index, nbytes)
    counts = out.summary.counts
    counts["second_of"] = len(signed)
    counts["second_rrsets"] = len(chosen)
    counts["second_rrsigs"] = sum(len(r.sigs) for r in chosen)
    out.second, used = second.compare(s, chosen, workers)
    return used


def second_in_process(
    run: RunContext, found: ApexChecks, zone: Zone, sample: int | None
) -> CheckResult:
    """The second implementation over a region read into this process (the whole zone,
    the edited regions) as one region, on every core, or why it does not run."""
    t = time.perf_counter()
    setup = run.second_setup(zone, found.serial, sample, 1)
    if isinstance(setup, CheckResult):
        return setup
    out = PartResult(0)
    signed = [r for r in zone.rrsets() if r.sigs]
    workers = check_second(setup, signed, out, 0, 1, run.options.workers)
    return second.result(out.second, out.summary.counts, since(t), f" with {workers} worker(s)")


def joined(findings: tuple[Finding, ...], merged: Collector) -> Collector:
    """The apex's ``findings`` and then the regions' ``merged`` ones, as one check's."""
    c = Collector()
    c.extend(findings)
    c.merge(merged)
    return c


def region_checks(
    apex: ApexChecks, region: PartResult, *, edits: bool = False
) -> list[CheckResult]:
    """The apex's checks and, joined with the apex's findings, those the regions' merged
    result completes: coverage, the NSEC3 chain, TTLs. ``edits``: the regions are a
    patch's edits and the rest of the file was scanned (``nsec3edits``)."""
    summary = region.summary
    seconds = summary.seconds
    t = time.process_time()
    found = Collector()
    found.extend(apex.nsec3param)
    notes: tuple[str, ...] = ()
    if edits:  # the edited regions against the whole-file scan
        if apex.params is not None:
            notes = (nsec3edits.reduce_edits(found, summary, apex.params, apex.ctx.origin),)
    else:
        for p in summary.nsec3:
            found.merge(p.findings)
        if summary.nsec3:
            found.extend(nsec3chain.nsec3_reduce(summary.nsec3, apex.ctx.origin))
    nsec3 = found.result(nsec3chain.NAME, seconds.get("nsec3", 0.0) + cpu_since(t), notes)
    return [
        apex.chain,
        apex.dnskeyset,
        joined(apex.coverage, region.coverage).result(coverage.NAME, seconds.get("coverage", 0.0)),
        nsec3,
        joined(apex.ttl, region.ttl).result(ttl.NAME, seconds.get("ttl", 0.0)),
        apex.serial_check,
    ]


def _top_labels(zone: Zone) -> tuple[bytes, bytes] | None:
    """The first and last label just below the apex among the part's owners, or None if
    they are out of order."""
    cut = len(zone.origin)
    first = last = None
    for owner in zone.nodes:
        prefix = owner[:-cut]
        if not prefix:
            top = b""  # the apex sorts first
        elif prefix[0] + 1 == len(prefix):
            top = prefix[1:]
        else:
            i = 0
            while i + prefix[i] + 1 < len(prefix):
                i += prefix[i] + 1
            top = prefix[i + 1 :]
        if last is not None and top < last:
            return None
        if first is None:
            first = top
        last = top
    if first is None or last is None:
        return b"", b""
    return first, last


def digest_part(plan: Plan, origin: str, part: Part) -> PartResult:
    """Owner digests of one part of the unsigned zone."""
    gc.disable()
    out = PartResult(part.index, unsigned=True)
    t = time.process_time()
    try:
        read = _read_part(plan, origin, part)
    except (ZoneSyntaxError, UnicodeDecodeError) as exc:
        out.zone_file.add(Finding("", "", f"unsigned zone unusable: {exc}"))
        return out
    out.splittable = not read.regrouped
    out.summary.digests = content.owner_digests(read.zone)
    out.summary.digested = len(out.summary.digests)
    out.summary.seconds["content"] = cpu_since(t)
    return out


def _read_part(plan: Plan, origin: str, part: Part) -> ReadResult:
    with open(plan.path, "rb") as f:
        f.seek(part.start)
        text = f.read(part.end - part.start).decode("utf-8", "strict")
    return read_zone_string(
        text, origin, str(plan.path), default_ttl=plan.default_ttl, first_line=part.first_line
    )


def unsigned_digests(path: Path, origin: str) -> dict[bytes, bytes] | str:
    """Owner digests of the unsigned zone (run in its own process), or why it is unusable."""
    gc.disable()
    try:
        return content.owner_digests(read_zone_file(path, origin).zone)
    except ZoneSyntaxError as exc:
        return f"unsigned zone unusable: {exc}"
