"""The verification report: one ``CheckResult`` per check, every failing record named.

A check lists every failure it finds, not only the first; to keep a report readable on
a broken million-name zone, each check keeps the first ``FINDINGS_CAP`` findings and
counts the rest. ``Report.summary()`` is the human form, ``Report.to_json()`` the
machine form (each check, pass/fail, each failing record with owner, type and reason,
timings).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

FINDINGS_CAP = 100


class Status(Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not run: not configured, tool not installed, or nothing to check


@dataclass(frozen=True, slots=True)
class Finding:
    """One failing record: its owner, its type and why it fails."""

    owner: str
    rtype: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.owner} {self.rtype}".strip()
        return f"{where}: {self.reason}" if where else self.reason

    def to_dict(self) -> dict[str, str]:
        return {"owner": self.owner, "type": self.rtype, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check.

    ``findings`` holds at most ``FINDINGS_CAP`` entries; ``failures`` counts all of them.
    ``notes`` are facts worth reading that are not failures (a DS for a key not yet in
    the zone, a validator's output tail, a sample size).
    """

    name: str
    status: Status
    findings: tuple[Finding, ...] = ()
    failures: int = 0
    seconds: float = 0.0
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.findings) > FINDINGS_CAP:
            raise ValueError(f"check {self.name}: more than {FINDINGS_CAP} findings kept")
        if self.failures < len(self.findings):
            raise ValueError(f"check {self.name}: failures below the findings kept")
        if self.status is Status.PASSED and self.failures:
            raise ValueError(f"check {self.name}: passed with {self.failures} failures")
        if self.status is Status.FAILED and not self.failures:
            raise ValueError(f"check {self.name}: failed without a finding")

    @property
    def passed(self) -> bool:
        return self.status is not Status.FAILED

    @classmethod
    def from_findings(
        cls,
        name: str,
        findings: Iterable[Finding],
        seconds: float = 0.0,
        notes: Iterable[str] = (),
    ) -> CheckResult:
        """Passed if there are no findings, else failed with the first ones kept."""
        found = Collector()
        found.extend(findings)
        return found.result(name, seconds, notes)

    @classmethod
    def skipped(cls, name: str, reason: str, seconds: float = 0.0) -> CheckResult:
        return cls(name=name, status=Status.SKIPPED, seconds=seconds, notes=(reason,))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "passed": self.passed,
            "failures": self.failures,
            "findings": [f.to_dict() for f in self.findings],
            "findings_omitted": self.failures - len(self.findings),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }


@dataclass(slots=True)
class Collector:
    """Findings of one check as they are found: all counted, the first ``FINDINGS_CAP``
    kept. Parts of a zone checked apart (in worker processes) are merged in order."""

    kept: list[Finding] = field(default_factory=list)
    failures: int = 0

    def add(self, finding: Finding) -> None:
        self.failures += 1
        if len(self.kept) < FINDINGS_CAP:
            self.kept.append(finding)

    def extend(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            self.add(f)

    def merge(self, other: Collector) -> None:
        self.failures += other.failures
        room = FINDINGS_CAP - len(self.kept)
        if room > 0:
            self.kept.extend(other.kept[:room])

    def result(self, name: str, seconds: float = 0.0, notes: Iterable[str] = ()) -> CheckResult:
        return CheckResult(
            name=name,
            status=Status.FAILED if self.failures else Status.PASSED,
            findings=tuple(self.kept),
            failures=self.failures,
            seconds=seconds,
            notes=tuple(notes),
        )


@dataclass(frozen=True, slots=True)
class Report:
    """Every check run on one signed zone."""

    origin: str
    zone_file: str
    serial: int | None
    checks: tuple[CheckResult, ...]
    verified_at: str  # ISO 8601 UTC: the "now" every time check used
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def passed(self) -> bool:
        """True only if no check failed (skipped checks are listed, not failed)."""
        return all(c.passed for c in self.checks)

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.checks if not c.passed)

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def summary(self) -> str:
        """A human summary: the verdict, then each check with its failures."""
        verdict = "PASSED" if self.passed else "FAILED"
        serial = f" serial {self.serial}" if self.serial is not None else ""
        lines = [
            f"verification of {self.origin}{serial} ({self.zone_file}) at "
            f"{self.verified_at}: {verdict} in {self.seconds:.1f} s",
        ]
        how = self.meta.get("verification")
        if isinstance(how, dict) and how.get("mode"):
            lines.append(f"  mode: {how['mode']} ({how.get('reason', '')})")
        width = max((len(c.name) for c in self.checks), default=0)
        for c in self.checks:
            mark = {Status.PASSED: "ok  ", Status.FAILED: "FAIL", Status.SKIPPED: "skip"}[c.status]
            count = f"  {c.failures} failure(s)" if c.failures else ""
            lines.append(f"  [{mark}] {c.name:<{width}}  {c.seconds:7.2f} s{count}")
            for f in c.findings:
                lines.append(f"         - {f}")
            if c.failures > len(c.findings):
                lines.append(f"         ... and {c.failures - len(c.findings)} more")
            for note in c.notes:
                for i, text in enumerate(note.splitlines() or [""]):
                    lines.append(f"         {'*' if i == 0 else ' '} {text}")
        if not self.passed:
            lines.append(f"failed checks: {', '.join(self.failed_checks)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "zone_file": self.zone_file,
            "serial": self.serial,
            "verified_at": self.verified_at,
            "passed": self.passed,
            "failed_checks": list(self.failed_checks),
            "seconds": round(self.seconds, 3),
            "checks": [c.to_dict() for c in self.checks],
            "meta": self.meta,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)


def since(t0: float) -> float:
    """Seconds of wall time since ``time.perf_counter()`` gave ``t0``."""
    return time.perf_counter() - t0


def cpu_since(t0: float) -> float:
    """CPU seconds of this process since ``time.process_time()`` gave ``t0``."""
    return time.process_time() - t0


def iso(seconds: int) -> str:
    """Seconds since the epoch as an ISO 8601 UTC time, as the report writes times."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
