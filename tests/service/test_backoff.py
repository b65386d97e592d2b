"""Issue 22 item 3, issue 20 item 4: a check that fails (the registry database away) is
asked again with back-off, and once it answers the scheduler is back to its interval
with no error left; the database probes do the same."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import OperationalError

from tldsec.backoff import Backoff
from tldsec.clock import FakeClock, SystemClock
from tldsec.cycle.schedule import RETRY_CEILING, Scheduler
from tldsec.cycle.state import Pending


def test_failing_checks_back_off_and_recover() -> None:
    answers: list[Exception | None] = [
        OperationalError("SELECT 1", {}, Exception("connection to server\n  failed: refused")),
        OperationalError("SELECT 1", {}, Exception("refused")),
        OperationalError("SELECT 1", {}, Exception("refused")),
        None,
    ]
    waits: list[float] = []

    async def check() -> Pending | None:
        answer = answers.pop(0) if answers else None
        if answer is not None:
            raise answer
        return None

    async def run_cycle(force: bool) -> dict[str, object]:
        raise AssertionError("no cycle without work")

    scheduler = Scheduler(
        check=check,
        run_cycle=run_cycle,
        clock=FakeClock(SystemClock().now()),
        debounce=30,
        interval=900,
        check_seconds=0.01,
    )

    async def scenario() -> None:
        task = asyncio.get_running_loop().create_task(scheduler.loop())
        errors = []
        while answers or scheduler.failures:
            waits.append(scheduler.wait_seconds())
            errors.append(scheduler.last_error)
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert any(e and "connection to server failed: refused" in e for e in errors)

    asyncio.run(scenario())
    assert max(waits) > 0.01  # it waited longer while the check failed
    assert scheduler.failures == 0 and scheduler.last_error is None
    assert scheduler.wait_seconds() == 0.01


def test_the_backoff_doubles_to_a_ceiling_and_resets() -> None:
    scheduler = Scheduler(
        check=lambda: asyncio.sleep(0),  # type: ignore[arg-type, return-value]
        run_cycle=lambda force: asyncio.sleep(0),  # type: ignore[arg-type, return-value]
        clock=FakeClock(SystemClock().now()),
        debounce=30,
        interval=900,
        check_seconds=1,
    )
    seen = []
    for failures in range(10):
        scheduler.failures = failures
        seen.append(scheduler.wait_seconds())
    assert seen[:4] == [1, 2, 4, 8] and seen[-1] == RETRY_CEILING
    backoff = Backoff(5, ceiling=60)
    assert [backoff.next(False) for _ in range(5)] == [10, 20, 40, 60, 60]
    assert backoff.next(True) == 5 and backoff.next(False) == 10


class Cycles:
    """A scheduler whose cycles give scripted outcomes; the monotonic clock is ours."""

    def __init__(self, outcomes: list[dict[str, object]]) -> None:
        self.now = 0.0
        self.outcomes = outcomes
        self.runs: list[tuple[float, bool]] = []
        self.pending: Pending | None = None
        self.scheduler = Scheduler(
            check=self._check,
            run_cycle=self._run,
            clock=FakeClock(SystemClock().now()),
            debounce=30,
            interval=900,
            check_seconds=2,
            monotonic=lambda: self.now,
        )

    async def _check(self) -> Pending | None:
        return self.pending

    async def _run(self, force: bool) -> dict[str, object]:
        self.runs.append((self.now, force))
        return self.outcomes.pop(0)

    def tick(self, at: float, forced: bool = False) -> list[float]:
        self.now = at
        asyncio.run(self.scheduler._tick(forced))
        return [when for when, _ in self.runs]


HSM_AWAY = {
    "outcome": "failed",
    "error": "cannot load PKCS#11 module /usr/lib/softhsm/libsofthsm2.so: GeneralError",
    "kind": "KeyStoreUnavailable",
}


def test_a_failed_cycle_is_retried_with_back_off_until_it_succeeds() -> None:
    c = Cycles([HSM_AWAY, HSM_AWAY, HSM_AWAY, {"outcome": "published"}])
    assert c.tick(0, forced=True) == [0]  # fails: retried in 4 s, no new work needed
    assert c.tick(2) == [0]
    assert c.tick(4) == [0, 4]  # fails again: 8 s
    assert c.tick(10) == [0, 4]
    assert c.tick(12) == [0, 4, 12]  # and again: 16 s
    c.pending = Pending("registry", "registry changes")  # work found waits for it too
    assert c.tick(27) == [0, 4, 12]
    c.pending = None
    assert c.tick(28) == [0, 4, 12, 28]  # published: nothing more to retry
    assert [force for _, force in c.runs] == [True] * 4  # a forced cycle's retry is forced
    assert c.scheduler.retry_at is None and c.scheduler.cycle_failures == 0
    assert c.tick(1000) == [0, 4, 12, 28]


@pytest.mark.parametrize(
    "result",
    [
        {
            "outcome": "failed",
            "error": "wrong PIN for token 'tldsec'",
            "kind": "KeyStoreLoginError",
        },
        {"outcome": "failed", "reason": "exited with status 1 and no result", "stage": "process"},
        {"outcome": "refused", "reason": "the gate refused serial 7", "stage": "verify"},
    ],
)
def test_a_refused_pin_a_crash_or_a_refusal_is_not_retried(result: dict[str, object]) -> None:
    c = Cycles([result])
    assert c.tick(0, forced=True) == [0]
    for at in (4, 8, 60, 600):
        assert c.tick(at) == [0]  # a PIN tried again could lock the token
    assert c.scheduler.retry_at is None
