"""Check "signatures": every RRSIG in the zone, on every core (DPS 6.6, RFC 4035 5.3).

Each RRSIG must be cryptographically valid, made by a key in the apex DNSKEY RRset, name
the apex as signer, carry the owner's label count and the RRset's TTL, be valid now,
and not expire before the horizon (the next cycle plus the safety margin).
"""

from __future__ import annotations

import time

from tldsec.dnscore import names
from tldsec.dnscore.types import type_text
from tldsec.dnscore.zone import RRset, Zone
from tldsec.verify.report import FINDINGS_CAP, CheckResult, Finding, Status
from tldsec.verify.rrsig import SignatureContext, check_rrsig
from tldsec.verify.workers import ForkedMap

NAME = "signatures"


class SignatureCheck:
    """The signature check, started in the background: ``result()`` collects it."""

    def __init__(self, zone: Zone, ctx: SignatureContext, workers: int) -> None:
        self._t0 = time.perf_counter()
        signed = [r for r in zone.rrsets() if r.sigs]
        self.signatures = sum(len(r.sigs) for r in signed)
        self.rrsets = len(signed)

        def task(start: int, end: int) -> list[tuple[int, list[Finding]]]:
            return [_check_range(signed, start, end, ctx)]

        self._map: ForkedMap[tuple[int, list[Finding]]] = ForkedMap(task, len(signed), workers)
        self.workers = self._map.workers

    def result(self) -> CheckResult:
        parts = self._map.result()
        failures = sum(n for n, _ in parts)
        kept = [f for _, found in parts for f in found][:FINDINGS_CAP]
        notes = (
            f"{self.signatures} RRSIGs over {self.rrsets} RRsets verified "
            f"with {self.workers} worker(s)",
        )
        return CheckResult(
            name=NAME,
            status=Status.FAILED if failures else Status.PASSED,
            findings=tuple(kept),
            failures=failures,
            seconds=time.perf_counter() - self._t0,
            notes=notes,
        )

    def abandon(self) -> None:
        self._map.abandon()


def _check_range(
    signed: list[RRset], start: int, end: int, ctx: SignatureContext
) -> tuple[int, list[Finding]]:
    failures = 0
    kept: list[Finding] = []
    for rrset in signed[start:end]:
        for sig in rrset.sigs:
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
