"""A big zone verified in parts, on every core: the same checks, mapped and reduced.

A signed zone as the signer writes it (one record per line, owners in canonical order,
no directives after the header) splits at owner names one label below the apex: every
part then holds whole subtrees, so a delegation and its glue, or a name and its empty
non-terminals, are always in the same part. Each worker process reads its parts from
the file itself and runs every per-record check on them (RRSIGs, coverage, TTLs, the
NSEC3 records, the second implementation, the content digest); the parent checks the
apex (chain of trust, DNSKEY RRset, NSEC3PARAM, serial) and reduces what needs the
whole zone (which NSEC3 belongs to which name, the chain's order, the comparison with
the unsigned zone, read by another process at the same time). The parent never holds
the whole zone, so memory stays far below one copy of it.

If the file turns out not to be splittable (parentheses, quotes, late directives, an
owner out of canonical order or split over two runs of lines) ``run_sharded`` returns
None and the caller reads the zone whole.
"""

from __future__ import annotations

import gc
import logging
import math
import mmap
import multiprocessing
import multiprocessing.pool
import os
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import dns.name
import dns.version

from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset, Zone
from tldsec.errors import ZoneSyntaxError
from tldsec.hsm.base import KeyStore
from tldsec.hsm.dnspython_key import hsm_private_key
from tldsec.verify import chain, content, coverage, nsec3chain, second, signatures, ttl
from tldsec.verify.coverage import Signers
from tldsec.verify.keys import KeySet
from tldsec.verify.nsec3chain import Nsec3Params, Nsec3Part
from tldsec.verify.options import KeyOpener, VerifyOptions, VerifyRequest
from tldsec.verify.report import CheckResult, Collector, Finding
from tldsec.verify.rrsig import SignatureContext
from tldsec.verify.structure import analyse
from tldsec.verify.workers import ForkedMap
from tldsec.verify.zoneread import read_zone_file, read_zone_string

log = logging.getLogger(__name__)

PART_BYTES = 4 << 20  # a part of about 30,000 lines
MIN_SHARDED_BYTES = 16 << 20  # smaller zones are read whole


@dataclass(frozen=True, slots=True)
class Part:
    index: int
    start: int  # byte offsets in the file
    end: int
    first_line: int


@dataclass(frozen=True, slots=True)
class Plan:
    path: Path
    parts: tuple[Part, ...]
    default_ttl: int | None
    apex_end: int  # the apex's records are the bytes before this offset
    size: int


def plan_parts(path: Path, origin: str, part_bytes: int = PART_BYTES) -> Plan | None:
    """Where to cut the file, or None if it cannot be cut safely."""
    size = path.stat().st_size
    if size == 0:
        return None
    suffix = ("." + origin.lower().rstrip(".") + ".").encode()
    origin_b = origin.lower().encode()
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        # Entries over several lines, quoted strings and escapes: read whole instead.
        if mm.find(b"(") >= 0 or mm.find(b'"') >= 0 or mm.find(b"\\") >= 0:
            return None
        default_ttl: int | None = None
        pos = 0
        while True:  # the header: comments, blank lines, $ORIGIN (this zone's), $TTL
            line = mm.readline()
            if not line:
                return None
            stripped = line.strip()
            if not stripped or stripped.startswith(b";"):
                pos = mm.tell()
                continue
            if stripped.startswith(b"$"):
                fields = stripped.split()
                if fields[0].upper() == b"$TTL" and len(fields) == 2 and fields[1].isdigit():
                    default_ttl = int(fields[1])
                elif not (
                    fields[0].upper() == b"$ORIGIN"
                    and len(fields) == 2
                    and fields[1].lower() == origin_b
                ):
                    return None
                pos = mm.tell()
                continue
            break
        if mm.find(b"\n$", pos) >= 0:
            return None  # a directive after the first record
        # The apex: the records at the start whose owner is the origin.
        first = line.split(None, 1)[0].lower()
        if first not in (origin_b, b"@"):
            return None
        apex_end = pos + len(line)
        while True:
            line = mm.readline()
            if not line:
                apex_end = size
                break
            if (
                line[:1] not in (b" ", b"\t")
                and line.strip()
                and not line.startswith(b";")
                and line.split(None, 1)[0].lower() not in (origin_b, b"@")
            ):
                break
            apex_end = mm.tell()
        # Cut points: the first line of an owner one label below the apex.
        count = max(1, (size - pos) // part_bytes)
        cuts = [pos]
        for i in range(1, count):
            cut = _cut_after(mm, pos + i * (size - pos) // count, suffix)
            if cut is not None and cut > cuts[-1]:
                cuts.append(cut)
        cuts.append(size)
        parts = []
        line_no = 1 + mm[:pos].count(b"\n") if pos else 1
        for i in range(len(cuts) - 1):
            parts.append(Part(i, cuts[i], cuts[i + 1], line_no))
            line_no += mm[cuts[i] : cuts[i + 1]].count(b"\n")
    return Plan(path, tuple(parts), default_ttl, apex_end, size)


def _cut_after(mm: mmap.mmap, offset: int, suffix: bytes) -> int | None:
    mm.seek(offset)
    mm.readline()  # the rest of a line cut in the middle
    previous: bytes | None = None
    while True:
        start = mm.tell()
        line = mm.readline()
        if not line:
            return None
        if line[:1] in (b" ", b"\t", b";", b"\n", b"\r"):
            continue  # same owner as the line before, or no record
        owner = line.split(None, 1)[0].lower()
        if previous is not None and owner != previous and _top_level(owner, suffix):
            return start
        previous = owner


def _top_level(owner: bytes, suffix: bytes) -> bool:
    """One label below the apex, written absolute or relative."""
    if owner.endswith(b"."):
        return owner.endswith(suffix) and b"." not in owner[: -len(suffix)]
    return b"." not in owner and owner != b"@"


# --- the work of one part ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SecondSetup:
    keys: dict[tuple[int, int], list[second.StoreKey]]
    origin: dns.name.Name
    sample: int | None  # None: every RRset
    seed: int
    total_bytes: int
    store: KeyStore
    opener: KeyOpener | None
    parent: int  # the parent's pid: a worker opens its own session on the store


@dataclass(frozen=True, slots=True)
class _Setup:
    """What every part is checked against; handed to the workers across fork."""

    plan: Plan
    origin: str
    ctx: SignatureContext
    signers: Signers
    params: Nsec3Params | None
    ttls: dict[int, int]
    digests: bool
    second: _SecondSetup | None


@dataclass(slots=True)
class PartResult:
    """What one part contributes to every check; small enough to send to the parent."""

    index: int
    unsigned: bool = False  # a part of the unsigned zone: only its digests
    splittable: bool = True
    first_key: bytes = b""
    last_key: bytes = b""
    zone_file: Collector = field(default_factory=Collector)
    signatures: Collector = field(default_factory=Collector)
    coverage: Collector = field(default_factory=Collector)
    ttl: Collector = field(default_factory=Collector)
    second: Collector = field(default_factory=Collector)
    nsec3: Nsec3Part | None = None
    digests: dict[bytes, bytes] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def check_part(setup: _Setup, part: Part) -> PartResult:
    """Read one part from the file and run every per-record check on it."""
    gc.disable()  # the zone's objects hold no cycles; collections only cost time
    out = PartResult(part.index)
    t = time.process_time()
    with open(setup.plan.path, "rb") as f:
        f.seek(part.start)
        text = f.read(part.end - part.start).decode("utf-8", "strict")
    try:
        read = read_zone_string(
            text,
            setup.origin,
            str(setup.plan.path),
            default_ttl=setup.plan.default_ttl,
            first_line=part.first_line,
        )
    except (ZoneSyntaxError, UnicodeDecodeError):
        # Perhaps a real error, perhaps a record that needed the part before (an omitted
        # TTL): the whole-zone reader decides, and names the line.
        out.splittable = False
        return out
    del text
    zone = read.zone
    out.zone_file.extend(read.findings)
    # The cut is safe if no subtree below the apex has names in two parts: within a part
    # the labels just below the apex never decrease (canonical order, RFC 4034 6.1), and
    # each part's range of them comes after the one before (checked by the parent).
    tops = _top_labels(zone)
    if tops is None:
        out.splittable = False
        return out
    out.first_key, out.last_key = tops
    out.counts["records"] = read.records
    out.seconds["zone-file"] = _lap(t)

    t = time.process_time()
    structure = analyse(zone)
    out.counts["delegations"] = len(structure.delegations)
    out.counts["occluded_names"] = len(structure.occluded)
    out.counts["empty_non_terminals"] = len(structure.empty_non_terminals)
    out.counts["nsec3_records"] = len(structure.nsec3_owners)
    out.seconds["structure"] = _lap(t)

    t = time.process_time()
    signed = [r for r in zone.rrsets() if r.sigs]
    out.signatures.failures, out.signatures.kept = signatures.check_range(
        signed, 0, len(signed), setup.ctx
    )
    out.counts["rrsigs"] = sum(len(r.sigs) for r in signed)
    out.counts["signed_rrsets"] = len(signed)
    out.seconds["signatures"] = _lap(t)

    t = time.process_time()
    out.coverage.extend(coverage.data_coverage(zone, structure, setup.signers))
    out.seconds["coverage"] = _lap(t)
    t = time.process_time()
    if setup.params is not None:
        out.nsec3 = nsec3chain.nsec3_part(zone, structure, setup.params)
    out.seconds["nsec3"] = _lap(t) + out.seconds.pop("structure")
    del structure
    t = time.process_time()
    out.ttl.extend(ttl.wrong_ttls(zone, setup.ttls))
    out.seconds["ttl"] = _lap(t)
    if setup.digests:
        t = time.process_time()
        out.digests = content.owner_digests(zone)
        out.seconds["content"] = _lap(t)
    if setup.second is not None:
        t = time.process_time()
        chosen = _sample(setup.second, zone.origin, signed, part)
        out.counts["second_rrsets"] = len(chosen)
        out.counts["second_rrsigs"] = sum(len(r.sigs) for r in chosen)
        out.second.failures, out.second.kept = _compare(setup.second, chosen)
        out.seconds["second-implementation"] = _lap(t)
    return out


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


def _sample(s: _SecondSetup, origin: bytes, signed: list[RRset], part: Part) -> list[RRset]:
    """Every signed RRset, or the apex ones and this part's share of the sample."""
    if s.sample is None:
        return signed
    apex = [r for r in signed if r.owner == origin]
    rest = [r for r in signed if r.owner != origin]
    quota = math.ceil(s.sample * (part.end - part.start) / max(1, s.total_bytes))
    rng = random.Random(s.seed * 1_000_003 + part.index)
    return apex + rng.sample(rest, min(quota, len(rest)))


def _compare(s: _SecondSetup, chosen: list[RRset]) -> tuple[int, list[Finding]]:
    if os.getpid() == s.parent or s.opener is None:
        return second.compare_range(
            chosen, 0, len(chosen), s.store, s.keys, s.origin, hsm_private_key
        )
    store = s.opener(s.store.spec)  # a forked worker: its own session (its own HSM login)
    try:
        return second.compare_range(
            chosen, 0, len(chosen), store, s.keys, s.origin, hsm_private_key
        )
    finally:
        store.close()


def _lap(t: float) -> float:
    return time.process_time() - t


def digest_part(plan: Plan, origin: str, part: Part) -> PartResult:
    """Owner digests of one part of the unsigned zone."""
    gc.disable()
    out = PartResult(part.index, unsigned=True)
    t = time.process_time()
    with open(plan.path, "rb") as f:
        f.seek(part.start)
        text = f.read(part.end - part.start).decode("utf-8", "strict")
    try:
        read = read_zone_string(
            text, origin, str(plan.path), default_ttl=plan.default_ttl, first_line=part.first_line
        )
    except (ZoneSyntaxError, UnicodeDecodeError) as exc:
        out.zone_file.add(Finding("", "", f"unsigned zone unusable: {exc}"))
        return out
    out.splittable = not read.regrouped
    out.digests = content.owner_digests(read.zone)
    out.seconds["content"] = _lap(t)
    return out


def unsigned_digests(path: Path, origin: str) -> dict[bytes, bytes] | str:
    """Owner digests of the unsigned zone (run in its own process), or why it is unusable."""
    gc.disable()
    try:
        return content.owner_digests(read_zone_file(path, origin).zone)
    except ZoneSyntaxError as exc:
        return f"unsigned zone unusable: {exc}"


# --- the whole run -------------------------------------------------------------------


@dataclass(slots=True)
class ShardedRun:
    """The built-in checks of a run in parts, in the report's order."""

    checks: list[CheckResult]
    serial: int | None
    meta: dict[str, object]


def run_sharded(
    request: VerifyRequest,
    options: VerifyOptions,
    origin: str,
    now_s: int,
    horizon_s: int,
    keystore: KeyStore | None,
    opener: KeyOpener | None,
    part_bytes: int = PART_BYTES,
) -> ShardedRun | None:
    """Every built-in check on ``request.signed`` in parts; None if it cannot be split."""
    t0 = time.perf_counter()
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
    dnskey = apex.get(apex.origin, RRType.DNSKEY)
    keys = KeySet.from_rdatas(dnskey.rdatas if dnskey is not None else [])
    ctx = SignatureContext(origin=apex.origin, keys=keys, now=now_s, horizon=horizon_s)
    param_findings, params = nsec3chain.param_check(
        apex.origin, apex.get(apex.origin, RRType.NSEC3PARAM), options.policy.denial
    )
    soa = apex.get(apex.origin, RRType.SOA)
    serial = content.soa_serial(soa.rdatas[0]) if soa is not None and soa.rdatas else None
    second_setup, second_skip = _second_setup(options, keystore, opener, apex, serial, plan)
    if second_setup is None and second_skip is None:
        return None  # a store that workers cannot reopen: the whole-zone path handles it
    setup = _Setup(
        plan=plan,
        origin=origin,
        ctx=ctx,
        signers=Signers.from_apex(apex, options.expected),
        params=params,
        ttls=ttl.policy_ttls(options.policy.ttl),
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
        apex_coverage = list(coverage.apex_coverage(apex, options.expected))
        serial_result = content.check_serial_from_file(apex, request.previous, origin)
        results = parts.result()
    except BaseException:
        if unsigned_job is not None:
            unsigned_job[0].terminate()
        raise
    signed_parts = [r for r in results if not r.unsigned]
    if not all(r.splittable for r in signed_parts) or not _in_order(signed_parts):
        if unsigned_job is not None:
            unsigned_job[0].terminate()
        log.info("%s is not in canonical order: reading it whole", request.signed)
        return None
    checks = _reduce(
        signed_parts,
        [r for r in results if r.unsigned],
        apex,
        request,
        options,
        param_findings,
        chain_result,
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
        meta[key] = sum(r.counts.get(key, 0) for r in signed_parts)
    return ShardedRun(checks, serial, meta)


def _second_setup(
    options: VerifyOptions,
    keystore: KeyStore | None,
    opener: KeyOpener | None,
    apex: Zone,
    serial: int | None,
    plan: Plan,
) -> tuple[_SecondSetup | None, CheckResult | None]:
    """The second implementation's setup, or why it is skipped; (None, None) if the
    parts cannot run it (an in-process store that forked workers cannot reopen)."""
    if keystore is None:
        return None, CheckResult.skipped(
            second.NAME, "no key store given: nothing to sign a second time with"
        )
    if options.second_sample == 0:
        return None, CheckResult.skipped(second.NAME, "disabled ([verify] second_sample = 0)")
    spec = keystore.spec
    if opener is None or (spec.backend == "memory" and not spec.token_label):
        return None, None
    dnskey = apex.get(apex.origin, RRType.DNSKEY)
    return (
        _SecondSetup(
            keys=second.keys_in_store(dnskey.rdatas if dnskey else [], keystore),
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


def _start_unsigned(
    request: VerifyRequest,
) -> (
    tuple[multiprocessing.pool.Pool, multiprocessing.pool.AsyncResult[dict[bytes, bytes] | str]]
    | None
):
    if request.unsigned is None:
        return None
    pool = multiprocessing.get_context("fork").Pool(1)
    return pool, pool.apply_async(unsigned_digests, (request.unsigned, request.origin))


def _in_order(results: list[PartResult]) -> bool:
    """Each part's subtrees come strictly after the previous part's (none in two parts)."""
    keys = [(r.first_key, r.last_key) for r in results if r.last_key]
    return all(keys[i][1] < keys[i + 1][0] for i in range(len(keys) - 1))


def _reduce(
    results: list[PartResult],
    unsigned_parts: list[PartResult],
    apex: Zone,
    request: VerifyRequest,
    options: VerifyOptions,
    param_findings: list[Finding],
    chain_result: CheckResult,
    apex_coverage: list[Finding],
    serial_result: CheckResult,
    unsigned_job: tuple[
        multiprocessing.pool.Pool, multiprocessing.pool.AsyncResult[dict[bytes, bytes] | str]
    ]
    | None,
    second_skip: CheckResult | None,
) -> list[CheckResult]:
    def merged(attr: str, first: list[Finding] | None = None) -> Collector:
        c = Collector()
        if first:
            c.extend(first)
        for r in results:
            c.merge(getattr(r, attr))
        return c

    def seconds(name: str) -> float:
        return sum(r.seconds.get(name, 0.0) for r in results)

    counts = {k: sum(r.counts.get(k, 0) for r in results) for k in ("rrsigs", "signed_rrsets")}
    checks = [
        merged("zone_file").result("zone-file", seconds("zone-file")),
        chain_result,
        merged("signatures").result(
            signatures.NAME,
            seconds("signatures"),
            (f"{counts['rrsigs']} RRSIGs over {counts['signed_rrsets']} RRsets verified in parts",),
        ),
        merged("coverage", apex_coverage).result(coverage.NAME, seconds("coverage")),
    ]
    t = time.process_time()
    nsec3 = Collector()
    nsec3.extend(param_findings)
    parts = [r.nsec3 for r in results if r.nsec3 is not None]
    for p in parts:
        nsec3.merge(p.findings)
    if parts:
        nsec3.extend(nsec3chain.nsec3_reduce(parts, apex.origin))
    checks.append(nsec3.result(nsec3chain.NAME, seconds("nsec3") + _lap(t)))
    checks.append(merged("ttl").result(ttl.NAME, seconds("ttl")))
    checks.append(
        _content(
            results,
            unsigned_parts,
            request,
            unsigned_job,
            seconds("content") + sum(r.seconds.get("content", 0.0) for r in unsigned_parts),
        )
    )
    checks.append(serial_result)
    if second_skip is not None:
        checks.append(second_skip)
    else:
        chosen = sum(r.counts.get("second_rrsets", 0) for r in results)
        rrsigs = sum(r.counts.get("second_rrsigs", 0) for r in results)
        total = counts["signed_rrsets"]
        scope = (
            f"all {total} signed RRsets"
            if chosen == total
            else (f"a sample of {chosen} of {total} signed RRsets (apex RRsets always)")
        )
        checks.append(
            merged("second").result(
                second.NAME,
                seconds("second-implementation"),
                (
                    f"dnspython {dns.version.version} re-signed {scope} ({rrsigs} RRSIGs) "
                    "through the key store, in parts",
                ),
            )
        )
    return checks


def _content(
    results: list[PartResult],
    unsigned_parts: list[PartResult],
    request: VerifyRequest,
    job: tuple[
        multiprocessing.pool.Pool, multiprocessing.pool.AsyncResult[dict[bytes, bytes] | str]
    ]
    | None,
    part_seconds: float,
) -> CheckResult:
    if request.unsigned is None:
        return CheckResult.skipped(content.CONTENT, "no unsigned zone given (--unsigned)")
    t = time.process_time()
    theirs: dict[bytes, bytes] | str
    if job is not None:
        pool, pending = job
        try:
            theirs = pending.get()
        finally:
            pool.close()
            pool.join()
    else:
        broken = [f for r in unsigned_parts for f in r.zone_file.kept]
        theirs = broken[0].reason if broken else {}
        if isinstance(theirs, dict):
            count = 0
            for r in unsigned_parts:
                theirs.update(r.digests)
                count += len(r.digests)
            if count != len(theirs) or not all(r.splittable for r in unsigned_parts):
                theirs = {}  # an owner's records in two places: compare the zones whole
    if isinstance(theirs, str):
        return CheckResult.from_findings(content.CONTENT, [Finding("", "", theirs)], _lap(t))
    ours: dict[bytes, bytes] = {}
    for r in results:
        ours.update(r.digests)
    if ours == theirs:
        return CheckResult.from_findings(content.CONTENT, [], part_seconds + _lap(t))
    del ours, theirs
    # They differ: read both zones whole to say exactly where and how.
    assert request.unsigned is not None
    signed = read_zone_file(request.signed, request.origin).zone
    unsigned = read_zone_file(request.unsigned, request.origin).zone
    return replace(content.check_content(signed, unsigned), seconds=part_seconds + _lap(t))
