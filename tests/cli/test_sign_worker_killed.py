"""``tldsec sign`` when a signing worker is killed (issue 14): it fails with one line
naming the dead worker, instead of waiting forever, and leaves no output and no
temporary file behind.

The worker is killed with SIGKILL from a thread of the test as soon as the pool has
started it; an alarm turns a hang (the old ``Pool.imap``) into a failure.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import process as futures_process
from pathlib import Path
from types import FrameType

import pytest

from tests.integration.test_sign_softhsm import big_zone
from tldsec.cli.main import main

HANG = 300  # seconds: far beyond a sign that fails as it should


class Hung(Exception):
    """The sign did not return."""


@pytest.fixture
def alarm() -> Iterator[None]:
    def hung(signum: int, frame: FrameType | None) -> None:
        raise Hung(f"tldsec sign did not return within {HANG} s of a worker's death")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(HANG)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def kill_first_signing_worker(killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the first process a ProcessPoolExecutor starts (not the sign's other
    children: NSEC3 hashing, output), found through the pool's manager thread."""
    while not stop.is_set():
        for manager in list(futures_process._threads_wakeups):
            for pid in list(getattr(manager, "processes", {})):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.002)


def test_a_killed_worker_fails_the_sign_at_once_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alarm: None
) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example"]) == 0
    zone = tmp_path / "example.zone"
    zone.write_text(big_zone(9000))
    out = tmp_path / "out" / "example.signed"
    out.parent.mkdir()
    capsys.readouterr()

    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=kill_first_signing_worker, args=(killed, stop))
    killer.start()
    try:
        code = main(["sign", str(zone), "-o", str(out), "--home", str(home), "--workers", "2"])
    finally:
        stop.set()
        killer.join()
    assert killed, "the signing pool never started a worker"
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a signing worker process died" in err[0]
    assert list(out.parent.iterdir()) == []  # no output, no temporary file
