"""A verification worker killed with SIGKILL fails the gate at once (issue 14): the zone
is not verified, instead of the verifier waiting forever for the lost range (which a
``multiprocessing.Pool`` did). An alarm turns a hang into a failure."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from types import FrameType

import pytest

from tldsec.errors import VerificationFailed
from tldsec.verify.workers import PARALLEL_MIN_ITEMS, Background, ForkedMap

HANG = 120


@pytest.fixture
def alarm() -> Iterator[None]:
    def hung(signum: int, frame: FrameType | None) -> None:
        raise AssertionError(f"ForkedMap.result() did not return within {HANG} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(HANG)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def killed_in_the_middle(start: int, end: int) -> list[int]:
    if start <= PARALLEL_MIN_ITEMS < end:
        os.kill(os.getpid(), signal.SIGKILL)  # this worker dies, as the OOM killer does it
    return list(range(start, end))


def test_a_killed_worker_fails_verification(alarm: None) -> None:
    work = ForkedMap(killed_in_the_middle, 2 * PARALLEL_MIN_ITEMS, 2)
    assert work.workers == 2
    with pytest.raises(VerificationFailed, match="a verification worker process died"):
        work.result()
    again = ForkedMap(lambda s, e: list(range(s, e)), 2 * PARALLEL_MIN_ITEMS, 2)
    assert again.result() == list(range(2 * PARALLEL_MIN_ITEMS))  # the next map works


def test_abandon_ends_the_workers(alarm: None) -> None:
    work = ForkedMap(lambda s, e: list(range(s, e)), 2 * PARALLEL_MIN_ITEMS, 2)
    work.abandon()
    assert work.result() == list(range(2 * PARALLEL_MIN_ITEMS))  # run here, after abandon


def dies(kind: str) -> str:
    if kind == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    return kind


def test_a_killed_background_process_fails_verification(alarm: None) -> None:
    """The file scan's and the unsigned zone's processes (``Background``) too."""
    assert Background(dies, [("a",), ("b",)], 2).results() == ["a", "b"]
    with pytest.raises(VerificationFailed, match="a verification worker process died"):
        Background(dies, [("a",), ("die",)], 2).results()
    unfinished = Background(time.sleep, [(60,)])
    unfinished.close()  # ends the process without waiting for it
