"""A forked pool worker does not outlive a parent that was killed (tldsec/forked.py).

The regression: a ``tldsec cycle`` killed with SIGKILL left its verification workers
waiting on their task queue for ever, holding the distribution lock, so every later
cycle failed with "another cycle is running".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

PARENT = textwrap.dedent(
    """
    import os, sys, time
    from tldsec.{module} import {pool}

    def task(*_args):
        os.write(1, b"%d\\n" % os.getpid())  # one write: two workers never interleave
        time.sleep(600)
        return []

    {start}
    time.sleep(600)
    """
)

POOLS = {
    "verify Background": (
        "verify.workers",
        "Background",
        "pool = Background(task, [()], workers=1)",
    ),
    "verify ForkedMap": (
        "verify.workers",
        "ForkedMap",
        "pool = ForkedMap(task, 2, workers=2, min_items=1, chunk=1)",
    ),
}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead; it waits only for init to reap it.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


@pytest.mark.parametrize("name", sorted(POOLS))
def test_a_worker_ends_when_its_parent_is_killed(name: str) -> None:
    module, pool, start = POOLS[name]
    script = PARENT.format(module=module, pool=pool, start=start)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert _alive(worker)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 30  # a liveness bound, not a speed assertion
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = _alive(worker)
    if alive:
        os.kill(worker, signal.SIGKILL)
    assert not alive, f"worker {worker} outlived its killed parent"
