"""The incremental plan: the gate's checks on what changed since the last verified zone.

Never trusting the zone patch (``dnscore.zonepatch``): its sizes and line starts are
checked, the unchanged bytes proved by the whole-file pass (``filescan``), every edit
widened to whole subtrees below the apex with the apex added (``regions``), and those
regions given every built-in check, their summary merged with the pass's; the delta
zone (``delta``) goes to ldns-verify-zone. docs/verify.md, "What it checks", has the
steps; ``gate`` decides when it may run (``mode``).
"""

from __future__ import annotations

import mmap
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

from tldsec.dnscore.signedfile import tops_in
from tldsec.dnscore.zone import Zone
from tldsec.dnscore.zonepatch import ZonePatch
from tldsec.errors import ZoneSyntaxError
from tldsec.verify import content
from tldsec.verify.apexchecks import ApexChecks
from tldsec.verify.context import ZONE_FILE, Outcome, RunContext
from tldsec.verify.delta import DeltaRun, delta_zone
from tldsec.verify.filescan import BackgroundScan
from tldsec.verify.nsec3chain import nsec3_part
from tldsec.verify.options import VerifyRequest
from tldsec.verify.part import (
    PartResult,
    RegionSetup,
    check_region,
    region_checks,
    second_in_process,
)
from tldsec.verify.regions import region_problems, regions, unsigned_subtrees
from tldsec.verify.report import CheckResult, Finding, cpu_since, since
from tldsec.verify.signatures import SignatureCheck, with_expiry
from tldsec.verify.structure import analyse
from tldsec.verify.workers import Background
from tldsec.verify.zoneread import ReadResult, read_zone_string

UNCHANGED = "unchanged-bytes"
MODE = "incremental"


def edited_regions(run: RunContext, patch: ZonePatch | str) -> Edited | Outcome:
    """The patch proved and the edited regions read (see the module docstring), or the
    outcome of a patch that does not fit; it never declines a file."""
    t = time.perf_counter()
    if isinstance(patch, str):
        return _refused(patch, t)
    background = BackgroundScan()
    try:
        found = _prove_then_read(run, patch, background, t)
    except BaseException:
        background.close()
        raise
    if isinstance(found, Outcome):
        background.close()
    return found


def _prove_then_read(
    run: RunContext, patch: ZonePatch, background: BackgroundScan, t0: float
) -> Edited | Outcome:
    request, origin = run.request, run.origin
    assert request.previous is not None
    t = time.perf_counter()
    try:
        with (
            open(request.previous, "rb") as fo,
            open(request.signed, "rb") as fn,
            _map(fo) as old,
            _map(fn) as new,
        ):
            problems = list(size_problems(patch, old, new))
            if not problems:
                # One pass over the candidate on every core (the unchanged bytes compared,
                # the NSEC3 and RRSIG lines scanned) while this process reads the regions.
                workers = run.options.workers or os.cpu_count() or 1
                unchanged_ranges = list(patch.unchanged())
                background.start(
                    request.signed, origin, workers, request.previous, unchanged_ranges
                )
                problems = list(line_start_problems(patch, old, new))
            if problems:
                return _refused_all([*problems, *background.differences()], t0)
            found = regions(patch, old, new, origin)
            new_text = b"".join(new[r.new_start : r.new_end] for r in found)
            old_text = b"".join(old[r.old_start : r.old_end] for r in found)
            order = list(region_problems(found, new, origin))
    except (OSError, ValueError) as exc:  # unreadable, or empty (mmap refuses it)
        return _refused_all([f"cannot read the zone files: {exc}"], t0)
    compared = patch.size - sum(r.new_end - r.new_start for r in found)
    meta: dict[str, object] = {
        "edits": len(patch.edits),
        "regions": len(found),
        "bytes_compared": compared,
        "bytes_read_again": len(new_text),
    }
    # Passed once the whole-file pass finds no difference (``Edited.check``).
    unchanged = CheckResult.from_findings(
        UNCHANGED,
        [],
        time.perf_counter() - t,
        (
            f"{compared} bytes outside {len(patch.edits)} edits are the same as in the "
            f"previous verified zone {request.previous.name}; {len(found)} regions "
            f"({len(new_text)} bytes, the apex and whole subtrees below it) read again",
        ),
    )
    unsigned = _start_unsigned(request, origin, new_text, old_text)
    t = time.perf_counter()
    try:
        new_read = _read(new_text, origin, str(request.signed))
        old_read = _read(old_text, origin, str(request.previous))
    except (ZoneSyntaxError, UnicodeDecodeError) as exc:
        if unsigned is not None:
            unsigned.close()
        zone_file = CheckResult.from_findings(ZONE_FILE, [Finding("", "", str(exc))], since(t))
        differences = background.differences()
        if differences:
            return _refused_all(differences, t0)
        return Outcome([unchanged, zone_file], None, meta)
    meta["records_read_again"] = new_read.records
    zone_file = CheckResult.from_findings(ZONE_FILE, [*new_read.findings, *order], since(t))
    return Edited(
        run,
        new_read.zone,
        old_read.zone,
        new_text,
        [unchanged, zone_file],
        meta,
        background,
        unsigned,
        t0,
    )


@dataclass(slots=True)
class Edited:
    """The edited regions of the candidate and of the previous zone, read, checked once
    the apex (among them) is."""

    run: RunContext
    apex: Zone  # the candidate's regions, the apex among them
    old: Zone  # the previous zone's same regions
    text: bytes  # the candidate's regions as written
    checks: list[CheckResult]  # the unchanged bytes and the regions' reading
    meta: dict[str, object]
    background: BackgroundScan
    unsigned: Background[bytes | str] | None  # ``regions.unsigned_subtrees``
    started: float  # the plan's time.perf_counter() at its start

    def check(self, found: ApexChecks) -> Outcome:
        """Every check of the regions, with the whole-file scan and the delta zone's
        external validators."""
        run, zone, meta = self.run, self.apex, self.meta
        options, origin = run.options, run.origin
        structure = analyse(zone)
        external = DeltaRun(
            options.external,
            delta_zone(self.text, zone, structure, origin),
            run.invocation(),
            options.external_timeout,
        )
        try:
            sigs = SignatureCheck(zone, found.ctx, options.workers)  # beside the scan
        except BaseException:
            external.close()
            raise
        try:
            meta["delegations_read_again"] = len(structure.delegations)
            region = PartResult(0)
            check_region(RegionSetup.of(run, found), zone, region, structure=structure)
            if found.params is not None:  # the same regions of the previous zone
                t = time.process_time()
                before = nsec3_part(self.old, analyse(self.old), found.params)
                region.summary.previous.append(before)
                region.summary.seconds["nsec3"] += cpu_since(t)
            t = time.perf_counter()
            for scanned in self.background.result():  # the whole-file pass's ranges
                region.summary.merge(scanned)
            meta["scan_seconds"] = round(self.background.seconds, 3)
            meta["scan_wait_seconds"] = round(since(t), 3)
        except BaseException:
            sigs.abandon()
            external.close()
            raise
        differs = region.summary.differs
        if differs:  # the unchanged bytes are not: nothing else counts
            sigs.abandon()
            external.close()
            return _refused_all([differs[k] for k in sorted(differs)], self.started)
        checks = [
            *self.checks,
            *region_checks(found, region, edits=True),
            with_expiry(
                sigs.result(), region.summary.expiry, run.horizon_s, self.background.seconds
            ),
            _content(zone, self.unsigned, origin),
            second_in_process(run, found, zone, None),
            *external.results(),
        ]
        return Outcome(checks, found.serial, meta)

    def close(self) -> None:
        """Stop the whole-file scan and the unsigned zone's reader if still running."""
        self.background.close()
        if self.unsigned is not None:
            self.unsigned.close()


def _start_unsigned(
    request: VerifyRequest, origin: str, new_text: bytes, old_text: bytes
) -> Background[bytes | str] | None:
    """The unsigned zone's lines for the regions' subtrees, read by another process."""
    if request.unsigned is None:
        return None
    tops = frozenset(tops_in(new_text, origin) | tops_in(old_text, origin))
    return Background(unsigned_subtrees, [(request.unsigned, origin, tops)])


def _content(zone: Zone, unsigned: Background[bytes | str] | None, origin: str) -> CheckResult:
    """The regions' data against the same subtrees of the unsigned zone (DPS 6.6)."""
    if unsigned is None:
        return CheckResult.skipped(content.CONTENT, "no unsigned zone given (--unsigned)")
    t = time.perf_counter()
    (lines,) = unsigned.results()
    if isinstance(lines, str):
        return CheckResult.skipped(
            content.CONTENT,
            f"{lines}: it cannot be cut like the signed zone, so the content is compared in "
            "the full verifications only",
        )
    try:
        theirs = _read(lines, origin, "<unsigned zone, the regions' subtrees>").zone
    except (ZoneSyntaxError, UnicodeDecodeError) as exc:
        return CheckResult.from_findings(
            content.CONTENT, [Finding("", "", f"unsigned zone unusable: {exc}")], since(t)
        )
    note = (
        "the regions' subtrees compared with the same subtrees of the unsigned zone "
        f"({len(theirs.nodes)} owners); the rest of it is compared in the full verifications"
    )
    return replace(content.check_content(zone, theirs), seconds=since(t), notes=(note,))


def _read(text: bytes, origin: str, filename: str) -> ReadResult:
    return read_zone_string(text.decode("utf-8", "strict"), origin, filename)


def _refused(reason: str, t: float) -> Outcome:
    found = [Finding("", "", f"unusable zone patch: {reason}")]
    return Outcome([CheckResult.from_findings(UNCHANGED, found, since(t))])


def _refused_all(problems: list[str], t: float) -> Outcome:
    found = [Finding("", "", p) for p in problems]
    note = (
        "the patch does not fit the previous verified zone and the candidate: refused "
        "without further checks"
    )
    return Outcome([CheckResult.from_findings(UNCHANGED, found, since(t), (note,))])


def _map(f: BinaryIO) -> mmap.mmap:
    return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def size_problems(
    patch: ZonePatch, old: mmap.mmap | bytes, new: mmap.mmap | bytes
) -> Iterator[str]:
    """The files' sizes where they are not the patch's."""
    if patch.previous_size != len(old):
        yield (
            f"the patch says the previous file has {patch.previous_size} bytes; it has {len(old)}"
        )
    if patch.size != len(new):
        yield f"the patch says the candidate has {patch.size} bytes; it has {len(new)}"


def line_start_problems(
    patch: ZonePatch, old: mmap.mmap | bytes, new: mmap.mmap | bytes
) -> Iterator[str]:
    """Each edit's ends at line starts in both files."""
    for i, e in enumerate(patch.edits):
        for what, data, pos in (
            ("previous", old, e.old_start),
            ("previous", old, e.old_end),
            ("candidate", new, e.new_start),
            ("candidate", new, e.new_end),
        ):
            if 0 < pos < len(data) and data[pos - 1 : pos] != b"\n":
                yield f"edit {i}: offset {pos} of the {what} file is not at the start of a line"
