"""Check "signatures": every RRSIG in the zone, on every core (DPS 6.6, RFC 4035 5.3).

Each RRSIG must be cryptographically valid, made by a key in the apex DNSKEY RRset, name
the apex as signer, carry the owner's label count and the RRset's TTL, be valid now,
and not expire before the horizon (the next cycle plus the safety margin); and show the
DPS numbers (``SignatureContext.rules``): algorithm (DPS 6.3), validity length within
the DPS 6.5 range, inception at least the policy's inception offset before now.
"""

from __future__ import annotations

import struct
import time

from cryptography.exceptions import InvalidSignature

from tldsec.dnscore import names
from tldsec.dnscore.types import type_text
from tldsec.dnscore.zone import RRset, Zone
from tldsec.verify.jitter import Jitter
from tldsec.verify.report import FINDINGS_CAP, CheckResult, Collector, Finding, iso
from tldsec.verify.rrsig import (
    CLASS_IN,
    RRSIG_FIXED,
    SERIAL_HALF,
    SignatureContext,
    check_rrsig,
    owner_labels,
)
from tldsec.verify.summary import Expiry
from tldsec.verify.workers import ForkedMap, Progress

NAME = "signatures"
_RR_HEAD = struct.Struct("!HHI")  # type, class, original TTL (RFC 4034 3.1.8.1)


class SignatureCheck:
    """The signature check, started in the background: ``result()`` collects it."""

    def __init__(
        self, zone: Zone, ctx: SignatureContext, workers: int, progress: Progress | None = None
    ) -> None:
        self._t0 = time.perf_counter()
        signed = [r for r in zone.rrsets() if r.sigs]
        self.signatures = sum(len(r.sigs) for r in signed)
        self.rrsets = len(signed)

        self._rules = ctx.rules

        def task(start: int, end: int) -> list[tuple[int, list[Finding], Jitter]]:
            jitter = Jitter()
            return [(*check_range(signed, start, end, ctx, jitter), jitter)]

        self._map: ForkedMap[tuple[int, list[Finding], Jitter]] = ForkedMap(
            task, len(signed), workers
        )
        self.workers = self._map.workers
        self._progress = progress

    def result(self) -> CheckResult:
        parts = self._map.result(self._progress)
        jitter = Jitter()
        for _, _, j in parts:
            jitter.merge(j)
        found = Collector()
        found.extend(jitter.findings(self._rules))
        for failures, kept, _ in parts:
            found.merge(Collector(kept, failures))
        note = (
            f"{self.signatures} RRSIGs over {self.rrsets} RRsets verified "
            f"with {self.workers} worker(s)"
        )
        return found.result(NAME, time.perf_counter() - self._t0, (note,))

    def abandon(self) -> None:
        self._map.abandon()


def with_expiry(result: CheckResult, whole: Expiry, horizon_s: int, seconds: float) -> CheckResult:
    """The RRSIG check of some regions, plus the earliest expiration over the whole file
    as scanned in ``seconds`` (DPS 6.5: every signature must outlive the next cycle plus
    the safety margin)."""
    found = Collector(list(result.findings), result.failures)
    if whole.rrsig_unread:
        unread = f"{whole.rrsig_unread} RRSIG line(s) whose expiration the scan cannot read"
        found.add(Finding("", "RRSIG", unread))
    expiry = whole.earliest_expiry
    if expiry is not None and expiry < horizon_s:
        owner = whole.earliest_line.split(b"\t", 1)[0].decode("utf-8", "replace")
        fields = whole.earliest_line.split(b"\t")
        covered = fields[4].split(b" ", 1)[0].decode() if len(fields) > 4 else ""
        found.add(
            Finding(
                owner,
                covered,
                f"the earliest RRSIG in the file expires at {iso(expiry)}, before the "
                f"horizon {iso(horizon_s)} (next cycle plus the safety margin)",
            )
        )
    note = (
        f"earliest expiration of the {whole.rrsig_lines} RRSIGs in the whole file: "
        f"{iso(expiry) if expiry is not None else 'none'} (horizon {iso(horizon_s)})"
    )
    return found.result(NAME, result.seconds + seconds, (*result.notes, note))


def check_range(
    signed: list[RRset], start: int, end: int, ctx: SignatureContext, jitter: Jitter | None = None
) -> tuple[int, list[Finding]]:
    """Check every RRSIG of ``signed[start:end]``: (failures, the first findings); each
    valid RRSIG's inception and expiration also go into ``jitter``.

    The common case (a valid RRSIG) takes a fast path: the fixed fields compared at
    once, the RRset's signed data built once; anything unusual goes to ``check_rrsig``,
    which names every problem.
    """
    failures = 0
    kept: list[Finding] = []
    origin = ctx.origin
    signer_end = RRSIG_FIXED.size + len(origin)
    now, horizon = ctx.now, ctx.horizon
    # The DPS numbers (6.3 algorithm, 6.5 validity, the inception's clock-skew allowance).
    algorithms, shortest, longest, latest = ctx.limits()
    verifiers = ctx.keys.verifiers
    unpack = RRSIG_FIXED.unpack_from
    pack = _RR_HEAD.pack
    runs = jitter.runs if jitter is not None else None
    for rrset in signed[start:end]:
        owner, rtype, ttl = rrset.owner, rrset.rtype, rrset.ttl
        labels = owner_labels(owner)
        body: bytes | None = None
        for sig in rrset.sigs:
            ok = False
            if len(sig) > signer_end and sig[RRSIG_FIXED.size : signer_end] == origin:
                covered, alg, nlabels, ottl, exp, inc, _tag = unpack(sig)
                keys = verifiers.get((sig[2], (sig[16] << 8) | sig[17]))
                # RFC 4035 5.3.1, without serial-number wrap-around (checked in full below).
                if (
                    keys
                    and covered == rtype
                    and nlabels == labels
                    and ottl == ttl
                    and inc <= latest
                    and now < exp
                    and horizon <= exp
                    and shortest <= exp - inc <= longest
                    and (algorithms is None or alg in algorithms)
                    and now - inc < SERIAL_HALF
                    and exp - now < SERIAL_HALF
                ):
                    if body is None:
                        head = owner + pack(rtype, CLASS_IN, ttl)
                        rdatas = rrset.rdatas
                        if len(rdatas) > 1 and not _is_sorted(rdatas):
                            rdatas = sorted(rdatas)
                        body = b"".join(head + len(rd).to_bytes(2, "big") + rd for rd in rdatas)
                    data = sig[:signer_end] + body
                    signature = sig[signer_end:]
                    for verify in keys:
                        try:
                            verify(signature, data)
                        except InvalidSignature:
                            continue
                        ok = True
                        break
            if ok:
                if runs is not None:
                    run = runs.get(inc)
                    if run is None:
                        runs[inc] = [1, exp, 0]
                    elif not run[2]:
                        run[0] += 1
                        if run[1] != exp:
                            run[2] = 1
                continue
            problems = check_rrsig(rrset, sig, ctx)
            if problems:
                failures += 1
                if len(kept) < FINDINGS_CAP:
                    tag = int.from_bytes(sig[16:18], "big") if len(sig) >= 18 else -1
                    kept.append(
                        Finding(
                            names.to_text(rrset.owner),
                            type_text(rrset.rtype),
                            f"RRSIG by key {tag}: " + "; ".join(problems),
                        )
                    )
    return failures, kept


def _is_sorted(items: list[bytes]) -> bool:
    return all(items[i] < items[i + 1] for i in range(len(items) - 1))
