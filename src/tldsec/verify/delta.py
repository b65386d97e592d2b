"""The external validators in the incremental mode: ldns-verify-zone on a delta zone.

A delta zone is the candidate's apex and every re-read region with the NSEC3 records of
the names in it: self-contained for the chain of trust and every signature in it, not
for the NSEC3 chain. ldns-verify-zone's two NSEC3 messages about a delta are tolerated;
``dnssec-verify`` and ``kzonecheck`` cannot check a delta soundly and are skipped
(docs/verify.md, "What it checks", item 5).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import Zone
from tldsec.verify.external import TAIL_LINES, TOOLS, Invocation, check_name
from tldsec.verify.nsec3chain import b32hex, nsec3_hash
from tldsec.verify.report import CheckResult, Finding
from tldsec.verify.structure import Structure

LDNS = "ldns-verify-zone"
_TOLERATED = (
    re.compile(r"Error: there is no NSEC\(3\) for "),
    re.compile(r"Error: The NSEC3 record for .* points to the wrong next hashed owner name"),
    re.compile(r"\s*should point to .*, whose hashed name is "),
)
_HASH = re.compile(rb"[0-9a-vA-V]{32}")
_CHASE_OK = "Cannot chase the root: All OK"
_SUMMARY = "There were errors in the zone"
_FULL_ONLY = {
    "dnssec-verify": "stops at its completeness test on a zone without the whole NSEC3 chain",
    "kzonecheck": "checks no signature once the NSEC3 chain is broken",
}


def delta_zone(text: bytes, zone: Zone, structure: Structure, origin: str) -> bytes:
    """The regions' text without the NSEC3 records of names outside it."""
    param = zone.get(zone.origin, RRType.NSEC3PARAM)
    if param is None or not param.rdatas or len(param.rdatas[0]) < 5:
        return text
    rd = param.rdatas[0]
    iterations, salt = int.from_bytes(rd[2:4], "big"), rd[5 : 5 + rd[4]]
    inside = {
        b32hex(nsec3_hash(name, salt, iterations)).encode()
        for group in (
            structure.authoritative,
            structure.delegations,
            structure.empty_non_terminals,
        )
        for name in group
    }
    suffix = ("." + origin.lower().rstrip(".") + ".\t").encode()
    kept = []
    for line in text.splitlines(keepends=True):
        head = line[:33]
        if (
            len(head) == 33
            and head[32:33] == b"."
            and line[32 : 32 + len(suffix)].lower() == suffix
            and _HASH.fullmatch(head[:32])
            and head[:32].lower() not in inside
        ):
            continue
        kept.append(line)
    return b"".join(kept)


class DeltaRun:
    """ldns-verify-zone on the delta zone, started at once; ``results()`` waits."""

    def __init__(self, tools: Sequence[str], text: bytes, inv: Invocation, timeout: float) -> None:
        self.tools = tuple(tools)
        self.timeout = timeout
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._argv: list[str] = []
        self._started = time.perf_counter()
        if LDNS in self.tools and shutil.which(LDNS) is not None:
            self._dir = tempfile.TemporaryDirectory(prefix="tldsec-delta-")
            path = Path(self._dir.name) / "delta.zone"
            path.write_bytes(text)
            self._argv = TOOLS[LDNS](
                Invocation(path, inv.origin, inv.anchor_file, inv.now, inv.horizon_seconds)
            )
            self._argv[self._argv.index("-V") + 1] = "3"  # every error on its own line
            self._process = subprocess.Popen(
                self._argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env={**os.environ, "LC_ALL": "C"},
            )

    def results(self) -> list[CheckResult]:
        out = []
        for tool in self.tools:
            name = check_name(tool)
            if tool == LDNS:
                out.append(self._ldns())
            elif tool in TOOLS:
                why = _FULL_ONLY.get(tool, "is not run on a delta zone")
                out.append(
                    CheckResult.skipped(
                        name,
                        f"incremental mode: {tool} {why}; it runs on the whole file in every "
                        "full verification ([verify] full_every_hours, full_every_cycles)",
                    )
                )
            else:
                out.append(
                    CheckResult.from_findings(
                        name, [Finding("", "", f"unknown validator {tool!r}")]
                    )
                )
        self.close()
        return out

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def _ldns(self) -> CheckResult:
        name = check_name(LDNS)
        if self._process is None:
            return CheckResult.skipped(name, f"{LDNS} is not installed")
        try:
            output, _ = self._process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            return CheckResult.from_findings(
                name,
                [Finding("", "", f"{LDNS} did not finish within {self.timeout:g} s on the delta")],
                time.perf_counter() - self._started,
            )
        seconds = time.perf_counter() - self._started
        code = self._process.returncode
        lines = [ln for ln in output.decode("utf-8", "replace").splitlines() if ln.strip()]
        tolerated = 0
        findings: list[Finding] = []
        for line in lines:
            if any(p.match(line) for p in _TOLERATED):
                tolerated += 1
            elif line.strip() in (_CHASE_OK, _SUMMARY):
                continue
            elif line.startswith(("Error", "Cannot chase")) or "ogus" in line:
                findings.append(Finding("", "", f"{LDNS}: {line.strip()}"))
        if code != 0 and not findings and not tolerated:
            findings.append(Finding("", "", f"{LDNS} rejects the delta zone (exit status {code})"))
        command = " ".join([*self._argv[:-1], "<delta zone>"])
        shown = [ln for ln in lines if not any(p.match(ln) for p in _TOLERATED)][-TAIL_LINES:]
        notes = (
            f"$ {command}\n" + "\n".join(shown),
            f"on the delta zone (the apex and the edited regions); {tolerated} message(s) "
            "about NSEC3 records outside the delta tolerated (the built-in nsec3 check scans "
            "the whole chain)",
        )
        return CheckResult.from_findings(name, findings, seconds, notes)
