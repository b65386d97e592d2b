"""Issue 22 item 3, issue 20 item 4: a check that fails (the registry database away) is
asked again with back-off, and once it answers the scheduler is back to its interval
with no error left; the database probes do the same."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import OperationalError

from tldsec.clock import FakeClock, SystemClock
from tldsec.cycle.schedule import RETRY_CEILING, Scheduler
from tldsec.cycle.state import Pending
from tldsec.service.probes import Backoff


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
