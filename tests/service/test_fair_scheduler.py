"""The fair scheduler of ``tldsec serve`` (decision 67): which zones' cycles start when
several are due (``admit``, pure), and the places every zone's scheduler shares
(``CycleSlots``), on a monotonic clock of our own."""

from __future__ import annotations

import asyncio

import pytest

from tldsec.cycle.schedule import CycleSlots, SlotRequest, admit


def req(zone: str, since: float, *, full: bool = False) -> SlotRequest:
    return SlotRequest(zone, full, since)


def zones(requests: list[SlotRequest]) -> list[str]:
    return [r.zone for r in requests]


def test_at_most_concurrent_start_the_longest_waiting_first() -> None:
    waiting = [req("c.", 3.0), req("a.", 1.0), req("b.", 2.0)]
    assert zones(admit(waiting, [], concurrent=2, full_signs=1)) == ["a.", "b."]
    assert zones(admit(waiting, [req("x.", 0.0)], concurrent=2, full_signs=1)) == ["a."]
    assert admit(waiting, [req("x.", 0.0), req("y.", 0.0)], concurrent=2, full_signs=1) == []


def test_incremental_cycles_start_before_full_signs_that_waited_longer() -> None:
    waiting = [req("big.", 1.0, full=True), req("small.", 5.0), req("mid.", 9.0)]
    assert zones(admit(waiting, [], concurrent=2, full_signs=1)) == ["small.", "mid."]
    assert zones(admit(waiting, [], concurrent=3, full_signs=1)) == ["small.", "mid.", "big."]


def test_a_full_sign_waits_for_the_running_one_but_does_not_hold_back_the_rest() -> None:
    running = [req("big.", 0.0, full=True)]
    waiting = [req("huge.", 1.0, full=True), req("small.", 2.0)]
    assert zones(admit(waiting, running, concurrent=4, full_signs=1)) == ["small."]
    assert zones(admit(waiting, running, concurrent=4, full_signs=2)) == ["small.", "huge."]
    # two full signs waiting, one place for them: the one waiting longer
    both = [req("late.", 7.0, full=True), req("early.", 3.0, full=True)]
    assert zones(admit(both, [], concurrent=4, full_signs=1)) == ["early."]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_slots_start_each_zone_in_turn_as_places_free() -> None:
    clock = Clock()
    started: list[str] = []

    async def scenario() -> None:
        slots = CycleSlots(concurrent=2, full_signs=1, monotonic=clock)

        async def cycle(zone: str, full: bool) -> None:
            await slots.acquire(zone, full)
            started.append(zone)

        tasks = {}
        for zone, full in (("big.", True), ("huge.", True), ("a.", False)):
            tasks[zone] = asyncio.create_task(cycle(zone, full))
            clock.now += 1
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        # big. signs in full, a. beside it; huge. waits for the full sign's place
        assert started == ["big.", "a."]
        assert slots.state("huge.") == "waiting" and slots.state("big.") == "running"
        assert slots.others_running("big.") and slots.others_running("a.")
        tasks["b."] = asyncio.create_task(cycle("b.", False))
        await asyncio.sleep(0)
        assert slots.state("b.") == "waiting"  # two running: no place
        slots.release("a.")
        await asyncio.sleep(0)
        assert started == ["big.", "a.", "b."]  # the free place is an incremental's
        slots.release("big.")
        await asyncio.sleep(0)
        assert started == ["big.", "a.", "b.", "huge."]
        assert slots.state("big.") is None
        await asyncio.gather(*tasks.values())

    asyncio.run(scenario())


def test_a_cycle_cancelled_while_it_waits_leaves_the_queue() -> None:
    async def scenario() -> None:
        slots = CycleSlots(concurrent=1, full_signs=1, monotonic=Clock())
        await slots.acquire("a.", False)
        waiter = asyncio.create_task(slots.acquire("b.", False))
        await asyncio.sleep(0)
        assert slots.state("b.") == "waiting"
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert slots.state("b.") is None
        slots.release("a.")
        assert slots.running == {}  # nobody took the place
        with pytest.raises(RuntimeError, match="already waits or runs"):
            await slots.acquire("c.", False)
            await slots.acquire("c.", False)

    asyncio.run(scenario())


def test_slots_need_a_place() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CycleSlots(concurrent=0, full_signs=1)
