"""Cycles as child processes (``tldsec cycle --json``): a cycle's memory is released when
it ends and a crash in one never takes the servers down. The officer's PINs reach the
child through a pipe, never its argv or environment; a child that runs longer than
``[cycle] timeout_seconds`` is stopped before its commit point.

Each zone has its own child (``tldsec cycle --zone ORIGIN --json`` in a home of several
zones; ``zones.py``): a zone's failure, timeout or stop is its own. The children share
the cores (decision 67): a cycle waits for a place in ``CycleSlots`` (at most ``[cycle]
concurrent`` at once, ``full_signs`` full signs among them, incremental ones first); a
full sign runs at nice 10 and, in a home of several zones, with one signing worker less
than ``[cycle] workers`` so that another zone's cycle always finds a core."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tldsec.pinpipe import encode_pins
from tldsec.service.zones import ZoneCycles, full_sign_reason

if TYPE_CHECKING:
    from tldsec.clock import Clock
    from tldsec.cycle.schedule import CycleSlots
    from tldsec.distribute.push import Pusher
    from tldsec.distribute.server import PrimaryServer
    from tldsec.hsm.activation import Activation
    from tldsec.service.metrics import Metrics

log = logging.getLogger("tldsec.serve")
FULL_SIGN_NICE = 10  # under CFS a nice-0 child gets about ten times its CPU share


def cycle_argv(home: Path | None) -> list[str]:
    """The command line of one cycle child for ``home`` (None: the default home); each
    zone's ``--zone`` is added by ``CycleRunner`` in a home of several zones."""
    where = ["--home", str(home)] if home else []
    return [sys.executable, "-m", "tldsec.cli.main", "cycle", *where, "--json"]


class CycleRunner:
    """The part of ``Service`` that runs each zone's cycle children."""

    cycle_argv: list[str]
    cycle_timeout: float
    clock: Clock
    activation: Activation | None
    primary: PrimaryServer | None
    pushers: dict[str, Pusher]
    metrics: Metrics
    zone_cycles: dict[str, ZoneCycles]
    slots: CycleSlots
    signing_workers: int  # [cycle] workers, resolved

    if TYPE_CHECKING:  # from the other parts of Service

        def _audit(self, event: str, **details: Any) -> None: ...

    @property
    def _child(self) -> asyncio.subprocess.Process | None:
        """A running cycle child, any zone's (None: none runs)."""
        return next((z.child for z in self.zone_cycles.values() if z.child is not None), None)

    def _only_zone(self) -> ZoneCycles:
        if len(self.zone_cycles) != 1:
            raise RuntimeError(f"this home serves {', '.join(self.zone_cycles)}: name the zone")
        return next(iter(self.zone_cycles.values()))

    async def _run_cycle(self, force: bool) -> dict[str, Any] | None:
        """The only zone's cycle (a one-zone home)."""
        return await self.run_zone_cycle(self._only_zone(), force)

    async def run_zone_cycle(self, zone: ZoneCycles, force: bool) -> dict[str, Any] | None:
        """One cycle of ``zone`` in its child, once the fair scheduler gives it a place."""
        zone.full = await self._full_sign(zone)
        await self.slots.acquire(zone.origin, zone.full is not None)
        try:
            return await self._cycle_child(zone, force)
        finally:
            self.slots.release(zone.origin)
            zone.full = None

    async def _full_sign(self, zone: ZoneCycles) -> str | None:
        """Why ``zone``'s cycle will sign in full (None: it patches, or nobody can say:
        the check failed, and the cycle itself will say why)."""
        checker, scheduler = zone.checker, zone.scheduler
        if checker is None:
            return None
        due = scheduler.due if scheduler is not None else None
        try:
            return await asyncio.to_thread(full_sign_reason, checker, due, self.clock.now())
        except Exception as exc:  # a database away: the cycle's own run reports it
            log.warning("%s: whether its cycle signs in full is unknown: %s", zone.origin, exc)
            return None

    def _argv(self, zone: ZoneCycles, force: bool, pins: bool) -> list[str]:
        argv = [*self.cycle_argv, *zone.zone_argv, *(["--force"] if force else [])]
        if zone.full is not None and len(self.zone_cycles) > 1 and self.signing_workers > 1:
            # A child's pool is fixed at its start: leave a core for the zone whose
            # change comes while this one signs.
            argv += ["--workers", str(self.signing_workers - 1)]
        if pins:
            argv.append("--pin-stdin")  # the PINs follow on the pipe, never in argv/env
        return argv

    async def _cycle_child(self, zone: ZoneCycles, force: bool) -> dict[str, Any] | None:
        zone.stopped_for = None
        pins = self.activation.pins() if self.activation is not None else {}
        argv = self._argv(zone, force, bool(pins))
        if zone.full is not None:
            log.info(
                "%s: a full sign starts at nice %d (%s)", zone.origin, FULL_SIGN_NICE, zone.full
            )
        child = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if pins else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        zone.child = child
        if zone.full is not None:
            # Set on the child before it forks its signing workers (they inherit it);
            # not a preexec_fn, which is unsafe in a process with threads.
            with contextlib.suppress(ProcessLookupError):
                os.setpriority(os.PRIO_PROCESS, child.pid, FULL_SIGN_NICE)
        try:
            async with asyncio.timeout(self.cycle_timeout):
                out, _ = await child.communicate(encode_pins(pins).encode() if pins else None)
        except TimeoutError:
            return await self._cycle_timed_out(zone)
        code, zone.child = child.returncode, None
        try:
            result: dict[str, Any] | None = json.loads(out.decode() or "null")
        except ValueError:
            result = None
        origin = zone.origin
        if result is None and zone.stopped_for is not None:
            # Stopped on purpose before its commit point (the publication lease was
            # lost): a failure the scheduler retries, once the lease is held again.
            log.error("cycle of %s failed: %s", origin, zone.stopped_for)
            await asyncio.to_thread(
                self._audit, "cycle.failed", zone=origin, stage="lease", error=zone.stopped_for
            )
            result = {"outcome": "failed", "reason": zone.stopped_for, "stage": "lease"}
        elif result is None:
            # A child that dies without its result (a wrong HSM PIN, a crash) is a crash
            # of the cycle: recorded, and a failed cycle for the scheduler and /health.
            reason = f"the cycle process exited with status {code} and no result"
            log.error("cycle of %s failed: %s", origin, reason)
            await asyncio.to_thread(
                self._audit,
                "system.crash",
                zone=origin,
                component="cycle",
                exit_status=code,
                error=reason,
            )
            result = {"outcome": "failed", "reason": reason, "stage": "process"}
        else:
            level = logging.INFO if code == 0 else logging.ERROR
            log.log(
                level,
                "cycle of %s %s",
                origin,
                result.get("outcome"),
                extra={"cycle": result, "zone": origin},
            )
        self.metrics.cycle_done(result, origin)
        await self._refresh_primary(origin)
        pusher = self.pushers.get(origin)
        if pusher is not None:
            pusher.wake()  # a new serial, if one was published: to every primary
        return result

    async def _refresh_primary(self, origin: str) -> None:
        """The primary loads ``origin``'s new serial, if one was published, and NOTIFYs
        that zone's secondaries only."""
        primary = self.primary
        if primary is None:
            return
        try:
            served = primary.zone(origin)
        except KeyError:
            await primary.refresh()  # a primary of another zone set: ask them all
            return
        await primary.refresh_zone(served)

    async def _cycle_timed_out(self, zone: ZoneCycles) -> dict[str, Any]:
        """Stop a cycle that ran too long (a hung HSM, a stuck database): it has not
        reached the store's commit point, so the zone last published stays published."""
        await self._stop_zone_child(zone)
        zone.child = None
        reason = (
            f"the cycle process ran longer than [cycle] timeout_seconds = "
            f"{self.cycle_timeout:g} and was stopped; the zone last published stays published"
        )
        log.error("cycle of %s failed: %s", zone.origin, reason)
        await asyncio.to_thread(
            self._audit, "cycle.failed", zone=zone.origin, stage="timeout", error=reason
        )
        result = {"outcome": "failed", "reason": reason, "stage": "timeout"}
        self.metrics.cycle_done(result, zone.origin)
        await self._refresh_primary(zone.origin)
        return result

    async def _stop_child(self, why: str | None = None) -> None:
        """Stop every zone's running child (the HSM deactivated, the lease lost, serve
        stopping); ``why`` is each one's failure reason."""
        running = [z for z in self.zone_cycles.values() if z.child is not None]
        for zone in running:
            if why is not None:
                zone.stopped_for = why
        await asyncio.gather(*(self._stop_zone_child(z) for z in running))

    async def _stop_zone_child(self, zone: ZoneCycles) -> None:
        child = zone.child
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    await child.wait()
            if child.returncode is None:
                child.kill()
                await child.wait()
