"""Cycles as child processes (``tldsec cycle --json``): a cycle's memory is released when
it ends and a crash in one never takes the servers down. The officer's PINs reach the
child through a pipe, never its argv or environment; a child that runs longer than
``[cycle] timeout_seconds`` is stopped before its commit point."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tldsec.pinpipe import encode_pins

if TYPE_CHECKING:
    from tldsec.distribute.push import Pusher
    from tldsec.distribute.server import PrimaryServer
    from tldsec.hsm.activation import Activation
    from tldsec.service.metrics import Metrics

log = logging.getLogger("tldsec.serve")


def cycle_argv(home: Path | None) -> list[str]:
    """The command line of one cycle child for ``home`` (None: the default home)."""
    where = ["--home", str(home)] if home else []
    return [sys.executable, "-m", "tldsec.cli.main", "cycle", *where, "--json"]


class CycleRunner:
    """The part of ``Service`` that runs one cycle child at a time."""

    cycle_argv: list[str]
    cycle_timeout: float
    activation: Activation | None
    primary: PrimaryServer | None
    pusher: Pusher | None
    metrics: Metrics
    _child: asyncio.subprocess.Process | None
    # Why the running child was stopped on purpose (the lease lost), or None.
    stopped_for: str | None = None

    if TYPE_CHECKING:  # from the other parts of Service

        def _audit(self, event: str, **details: Any) -> None: ...

    async def _run_cycle(self, force: bool) -> dict[str, Any] | None:
        argv = [*self.cycle_argv, *(["--force"] if force else [])]
        self.stopped_for = None
        pins = self.activation.pins() if self.activation is not None else {}
        if pins:
            argv.append("--pin-stdin")  # the PINs follow on the pipe, never in argv/env
        self._child = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if pins else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(self.cycle_timeout):
                out, _ = await self._child.communicate(encode_pins(pins).encode() if pins else None)
        except TimeoutError:
            return await self._cycle_timed_out()
        code, self._child = self._child.returncode, None
        try:
            result: dict[str, Any] | None = json.loads(out.decode() or "null")
        except ValueError:
            result = None
        if result is None and self.stopped_for is not None:
            # Stopped on purpose before its commit point (the publication lease was
            # lost): a failure the scheduler retries, once the lease is held again.
            log.error("cycle failed: %s", self.stopped_for)
            await asyncio.to_thread(
                self._audit, "cycle.failed", stage="lease", error=self.stopped_for
            )
            result = {"outcome": "failed", "reason": self.stopped_for, "stage": "lease"}
        elif result is None:
            # A child that dies without its result (a wrong HSM PIN, a crash) is a crash
            # of the cycle: recorded, and a failed cycle for the scheduler and /health.
            reason = f"the cycle process exited with status {code} and no result"
            log.error("cycle failed: %s", reason)
            await asyncio.to_thread(
                self._audit, "system.crash", component="cycle", exit_status=code, error=reason
            )
            result = {"outcome": "failed", "reason": reason, "stage": "process"}
        else:
            level = logging.INFO if code == 0 else logging.ERROR
            log.log(level, "cycle %s", result.get("outcome"), extra={"cycle": result})
        self.metrics.cycle_done(result)
        if self.primary is not None:
            await self.primary.refresh()
        if self.pusher is not None:
            self.pusher.wake()  # a new serial, if one was published: to every primary
        return result

    async def _cycle_timed_out(self) -> dict[str, Any]:
        """Stop a cycle that ran too long (a hung HSM, a stuck database): it has not
        reached the store's commit point, so the zone last published stays published."""
        await self._stop_child()
        self._child = None
        reason = (
            f"the cycle process ran longer than [cycle] timeout_seconds = "
            f"{self.cycle_timeout:g} and was stopped; the zone last published stays published"
        )
        log.error("cycle failed: %s", reason)
        await asyncio.to_thread(self._audit, "cycle.failed", stage="timeout", error=reason)
        result = {"outcome": "failed", "reason": reason, "stage": "timeout"}
        self.metrics.cycle_done(result)
        if self.primary is not None:
            await self.primary.refresh()
        return result

    async def _stop_child(self) -> None:
        child = self._child
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    await child.wait()
            if child.returncode is None:
                child.kill()
                await child.wait()
