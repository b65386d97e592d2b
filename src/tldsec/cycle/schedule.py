"""When to run a cycle (DPS 3.5.2: DS changes reach the zone within the hour).

``Scheduler.loop`` asks "is there work?" (``Cycle.pending``, a cheap check) every
``check_seconds``. A registry change starts a cycle once the policy's debounce has
passed since the oldest change waiting was made (change-driven mode), so a burst of
changes makes one serial and changes made while a cycle ran do not wait a whole debounce
more; key steps, signatures to refresh and interrupted cycles start one at once; without
change-driven mode, work found waits for the policy's cycle interval. ``trigger`` runs a
cycle at once. Check failures are logged and kept in ``last_error``; the loop goes on,
asking again with back-off (the wait doubles from ``check_seconds`` up to
``RETRY_CEILING``) until the check answers, then at ``check_seconds`` again. A cycle
that failed for a reason that may pass (an HSM or a database away: ``retryable``) runs
again with the same back-off even when no new work is found, until one succeeds; a
refused PIN is never retried (a token may lock).

``tldsec serve`` keeps one ``Scheduler`` per zone; their cycles share ``CycleSlots``
(decision 67): at most ``[cycle] concurrent`` at once and ``full_signs`` full signs among
them, incremental cycles and refreshes first, each kind in order of waiting time
(``admit``, pure).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tldsec.backoff import backoff_seconds
from tldsec.clock import Clock
from tldsec.cycle.state import Pending
from tldsec.errors import TldsecError

log = logging.getLogger(__name__)
RETRY_CEILING = 60.0  # seconds: the longest wait between checks while they fail


@dataclass
class Scheduler:
    """When to run a cycle: change-driven with a debounce, at intervals, or on demand."""

    check: Callable[[], Awaitable[Pending | None]]
    run_cycle: Callable[[bool], Awaitable[dict[str, Any] | None]]
    clock: Clock
    debounce: float
    interval: float
    check_seconds: float
    change_driven: bool = True
    monotonic: Callable[[], float] = time.monotonic
    trigger: asyncio.Event = field(default_factory=asyncio.Event)
    change_seen: float | None = None
    next_interval: float = 0.0
    last: dict[str, Any] | None = None
    last_pending: str | None = None
    last_error: str | None = None
    # Why no cycle may start now (the HSM is locked), or None; work found waits.
    hold: Callable[[], str | None] | None = None
    held: str | None = None
    failures: int = 0  # checks failed in a row
    # A cycle that failed for a transient reason (``retryable``) runs again after a
    # back-off, work found or not: doubling from ``check_seconds`` up to RETRY_CEILING.
    cycle_failures: int = 0  # cycles failed in a row
    retry_at: float | None = None  # monotonic time of the retry, None: nothing to retry
    retry_force: bool = False  # the failed cycle was forced: so is its retry
    # The work that starts the cycle now (None: requested, or a retry): whoever runs it
    # may ask what kind of cycle it will be (a full sign waits for its own place).
    due: Pending | None = None
    zone: str = ""  # the zone this scheduler runs, in its log lines ("" : the only one)

    @property
    def _of(self) -> str:
        return f" of {self.zone}" if self.zone else ""

    def wait_seconds(self) -> float:
        """The wait before the next check: ``check_seconds``, or more while it fails."""
        return self._backoff(self.failures)

    def _backoff(self, failures: int) -> float:
        ceiling = max(RETRY_CEILING, self.check_seconds)
        return backoff_seconds(self.check_seconds, failures, ceiling)

    def __post_init__(self) -> None:
        self.next_interval = self.monotonic() + self.interval

    async def loop(self) -> None:
        while True:
            forced = self.trigger.is_set()
            self.trigger.clear()
            try:
                await self._tick(forced)
                self.failures = 0
            except TldsecError as exc:
                self._failed(" ".join(str(exc).split()))
            except Exception as exc:  # a database or network failure: keep scheduling
                self._failed(f"{type(exc).__name__}: {_one_line(exc)}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.wait_seconds()):
                    await self.trigger.wait()

    def _failed(self, error: str) -> None:
        self.failures += 1
        if error != self.last_error:  # once per distinct failure, not at every retry
            log.error("scheduler%s: the check failed (retrying with back-off): %s", self._of, error)
        self.last_error = error

    async def _tick(self, forced: bool) -> None:
        if forced:
            self.due = None
            await self._run(True, "requested")
            return
        pending = await self.check()
        self.last_error = None
        self.last_pending = None if pending is None else pending.reason
        now = self.monotonic()
        interval_due = now >= self.next_interval
        if interval_due:
            self.next_interval = now + self.interval
        if pending is None:
            self.change_seen = None
            if self.retry_at is not None and now >= self.retry_at:
                self.due = None
                await self._run(self.retry_force, f"retry {self.cycle_failures} of a failed cycle")
            return
        if self.retry_at is not None and now < self.retry_at:
            return  # the last cycle failed: work found waits for the back-off too
        if pending.kind == "registry" and self.change_driven:
            # Debounce (policy [cycle] debounce_seconds): let a burst of changes settle,
            # counted from the oldest change waiting, so that changes made while a cycle
            # ran do not wait a whole debounce more once it is done.
            waited = self._waited(pending, now)
            if waited < self.debounce and not interval_due:
                if self.change_seen is None:
                    self.change_seen = now
                    log.info(
                        "scheduler%s: registry change seen; cycle in %.0f s",
                        self._of,
                        self.debounce - waited,
                    )
                return
        elif pending.kind == "registry" and not interval_due:
            return
        self.due = pending
        await self._run(False, pending.reason)

    def _waited(self, pending: Pending, now: float) -> float:
        """Seconds since the oldest waiting change (by the clock), or since it was seen."""
        if pending.since is not None:
            return (self.clock.now() - pending.since).total_seconds()
        if self.change_seen is None:
            return 0.0
        return now - self.change_seen

    async def _run(self, force: bool, why: str) -> None:
        held = self.hold() if self.hold is not None else None
        if held is not None:
            if held != self.held:  # once per reason, not at every check
                log.warning("scheduler%s: a cycle is due (%s) but waits: %s", self._of, why, held)
            self.held = held
            return
        self.held = None
        log.info("scheduler%s: starting a cycle (%s)", self._of, why)
        self.change_seen = None
        self.last = await self.run_cycle(force)
        if retryable(self.last):
            self.cycle_failures += 1
            wait = self._backoff(self.cycle_failures)
            self.retry_at, self.retry_force = self.monotonic() + wait, force
            log.warning("scheduler%s: the cycle failed; it runs again in %.0f s", self._of, wait)
        else:
            self.cycle_failures, self.retry_at = 0, None


# A failed cycle is retried unless a retry could do harm or cannot help: a PIN the HSM
# refused (a token may lock after a few wrong PINs), or a child that died without its
# result (its cause unknown: a wrong PIN is one). Refused and held cycles wait for a person.
NOT_RETRIED_KINDS = frozenset({"KeyStoreLoginError", "KeyStoreLocked"})


def retryable(result: dict[str, Any] | None) -> bool:
    """Whether this cycle failed for a reason that may pass (an HSM or database away)."""
    if result is None or result.get("outcome") != "failed":
        return False
    return result.get("kind") not in NOT_RETRIED_KINDS and result.get("stage") != "process"


def _one_line(exc: BaseException) -> str:
    """A failure in one line: a driver's own message (libpq's spans lines), without
    SQLAlchemy's statement and background link."""
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig if orig is not None else exc).split())


# --- sharing the cores between the zones' cycles (decision 57, "the fair scheduler") ---


@dataclass(frozen=True, slots=True)
class SlotRequest:
    """A zone's cycle that is due and waits for a place: ``full`` if it will sign (or
    verify) the whole zone, ``since`` when it asked (monotonic seconds)."""

    zone: str
    full: bool
    since: float


def admit(
    waiting: list[SlotRequest],
    running: list[SlotRequest],
    concurrent: int,
    full_signs: int,
) -> list[SlotRequest]:
    """Which of ``waiting`` start now, in the order they start: at most ``concurrent``
    running at once and ``full_signs`` full ones among them; incremental cycles and
    refreshes first (a small zone's change must not wait for a big zone's full sign),
    then each kind by waiting time, the longest first."""
    free = concurrent - len(running)
    fulls = sum(1 for r in running if r.full)
    started: list[SlotRequest] = []
    for request in sorted(waiting, key=lambda r: (r.full, r.since, r.zone)):
        if free <= 0:
            break
        if request.full and fulls >= full_signs:
            continue  # an incremental one behind it may still start
        started.append(request)
        free -= 1
        fulls += int(request.full)
    return started


class CycleSlots:
    """The places for cycle children that every zone's ``Scheduler`` shares in one
    ``tldsec serve``: ``acquire`` waits for one (``admit`` decides), ``release`` frees
    it. One zone's cycle waits here while the others run; it never waits for another
    zone's check, hold or failure."""

    def __init__(
        self,
        concurrent: int,
        full_signs: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if concurrent < 1 or full_signs < 1:
            raise ValueError("concurrent and full_signs must be at least 1")
        self.concurrent = concurrent
        self.full_signs = full_signs
        self.monotonic = monotonic
        self.waiting: dict[str, tuple[SlotRequest, asyncio.Future[None]]] = {}
        self.running: dict[str, SlotRequest] = {}

    async def acquire(self, zone: str, full: bool) -> None:
        """Wait until ``zone``'s cycle may start; it then holds a place until
        ``release``. Cancelled while waiting, it leaves the queue."""
        if zone in self.waiting or zone in self.running:
            raise RuntimeError(f"{zone}: a cycle of this zone already waits or runs")
        request = SlotRequest(zone, full, self.monotonic())
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting[zone] = (request, started)
        self._admit()
        try:
            await started
        except asyncio.CancelledError:
            if self.waiting.pop(zone, None) is None:
                self.release(zone)  # admitted in the same instant: give it back
            raise

    def release(self, zone: str) -> None:
        """``zone``'s cycle ended: its place goes to the next waiting."""
        self.running.pop(zone, None)
        self._admit()

    def others_running(self, zone: str) -> bool:
        """Whether another zone's cycle runs now."""
        return any(name != zone for name in self.running)

    def state(self, zone: str) -> str | None:
        """``running``, ``waiting`` (for a place) or None, for /health."""
        if zone in self.running:
            return "running"
        return "waiting" if zone in self.waiting else None

    def _admit(self) -> None:
        waiting = [request for request, _ in self.waiting.values()]
        for request in admit(
            waiting, list(self.running.values()), self.concurrent, self.full_signs
        ):
            _, started = self.waiting.pop(request.zone)
            self.running[request.zone] = request
            if not started.done():
                started.set_result(None)
