"""External validators from other vendors (DPS 6.6: "cryptographic software from
independent vendors is used for validation").

``ldns-verify-zone`` (NLnet Labs), ``dnssec-verify`` (ISC BIND 9), ``kzonecheck`` (CZ.NIC
Knot DNS) and ``validns`` each read the signed zone file themselves. Each runs when it is
enabled and installed, with a timeout, all at once; its exit status is its verdict and
the tail of its output goes into the report. A tool that is enabled but not installed
is reported as skipped, not as passed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tldsec.verify.report import CheckResult, Finding

TAIL_LINES = 15


@dataclass(frozen=True, slots=True)
class Invocation:
    """What a tool is given: the zone, its origin, the trust anchor, the time, the horizon."""

    zone_file: Path
    origin: str  # absolute, with the trailing dot
    anchor_file: Path | None
    now: int  # seconds since the epoch
    horizon_seconds: int  # signatures must not expire within this


def _ldns(inv: Invocation) -> list[str]:
    argv = ["ldns-verify-zone", "-V", "2"]
    if inv.anchor_file is not None:
        argv += ["-k", str(inv.anchor_file)]  # chain from the DS/DNSKEY trust anchor
    argv += ["-t", time.strftime("%Y%m%d%H%M%S", time.gmtime(inv.now))]
    if inv.horizon_seconds > 0:
        argv += ["-e", f"PT{inv.horizon_seconds}S"]
    return [*argv, str(inv.zone_file)]


def _bind(inv: Invocation) -> list[str]:
    # dnssec-verify has no clock option: it checks against the real current time.
    return ["dnssec-verify", "-q", "-o", inv.origin, str(inv.zone_file)]


def _knot(inv: Invocation) -> list[str]:
    return [
        "kzonecheck",
        "-o",
        inv.origin,
        "--dnssec",
        "on",
        "-t",
        str(inv.now),
        str(inv.zone_file),
    ]


def _validns(inv: Invocation) -> list[str]:
    return ["validns", "-z", inv.origin, "-t", str(inv.now), str(inv.zone_file)]


TOOLS: dict[str, Callable[[Invocation], list[str]]] = {
    "ldns-verify-zone": _ldns,
    "dnssec-verify": _bind,
    "kzonecheck": _knot,
    "validns": _validns,
}


def check_name(tool: str) -> str:
    return f"external:{tool}"


@dataclass
class _Running:
    tool: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    output: IO[bytes]
    started: float
    ended: float | None = None  # set by the watcher thread when the tool exits
    watcher: threading.Thread | None = None

    def watch(self) -> None:
        """Note when the tool exits, even while the caller is busy with other checks."""

        def wait() -> None:
            self.process.wait()
            self.ended = time.perf_counter()

        self.watcher = threading.Thread(target=wait, name=f"watch {self.tool}", daemon=True)
        self.watcher.start()


class ExternalRun:
    """The enabled validators, started at once in the background; ``results()`` waits."""

    def __init__(
        self,
        tools: Sequence[str],
        inv: Invocation,
        timeout: float,
        which: Callable[[str], str | None] = shutil.which,
    ) -> None:
        self.tools = tuple(tools)
        self.timeout = timeout
        self._done: dict[str, CheckResult] = {}
        self._running: list[_Running] = []
        self._deadline = time.monotonic() + timeout
        for tool in self.tools:
            if tool not in TOOLS:
                self._done[tool] = CheckResult.from_findings(
                    check_name(tool),
                    [Finding("", "", f"unknown validator {tool!r} (known: {', '.join(TOOLS)})")],
                )
                continue
            argv = TOOLS[tool](inv)
            if which(argv[0]) is None:
                self._done[tool] = CheckResult.skipped(
                    check_name(tool), f"{argv[0]} is not installed"
                )
                continue
            output = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _finish or abandon
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "LC_ALL": "C"},
            )
            running = _Running(tool, argv, process, output, time.perf_counter())
            running.watch()
            self._running.append(running)

    def results(self) -> list[CheckResult]:
        """Wait for every tool (until the timeout) and return their results in order."""
        for r in self._running:
            remaining = max(0.0, self._deadline - time.monotonic())
            self._done[r.tool] = _finish(r, remaining, self.timeout)
        self._running = []
        return [self._done[t] for t in self.tools]

    def abandon(self) -> None:
        """Kill whatever still runs (on an error in the caller)."""
        for r in self._running:
            if r.process.poll() is None:
                r.process.kill()
            r.process.wait()
            r.output.close()
        self._running = []


def _finish(r: _Running, remaining: float, timeout: float) -> CheckResult:
    name = check_name(r.tool)
    assert r.watcher is not None
    r.watcher.join(timeout=remaining)
    code: int | None = r.process.returncode
    if r.watcher.is_alive():
        r.process.kill()
        r.watcher.join()
        code = None
    seconds = (r.ended or time.perf_counter()) - r.started
    r.output.seek(0)
    text = r.output.read().decode("utf-8", "replace")
    r.output.close()
    lines = [line for line in text.splitlines() if line.strip()]
    tail = "\n".join(lines[-TAIL_LINES:])
    command = " ".join(r.argv)
    if code == 0:
        return CheckResult.from_findings(
            name, [], seconds, (f"$ {command}\n{tail}" if tail else f"$ {command}",)
        )
    reason = (
        f"{r.tool} did not finish within {timeout:g} s"
        if code is None
        else f"{r.tool} rejects the zone (exit status {code})"
    )
    findings = [Finding("", "", reason)]
    # The tool's own error lines name the records; keep them as findings too.
    errors = [
        line
        for line in lines
        if any(
            w in line.lower() for w in ("error", "fail", "invalid", "expire", "missing", "no valid")
        )
    ]
    findings += [Finding("", "", f"{r.tool}: {line.strip()}") for line in errors[:20]]
    return CheckResult.from_findings(name, findings, seconds, (f"$ {command}\n{tail}",))
