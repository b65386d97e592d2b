"""Forked worker processes that do not outlive the process that forked them.

A pool worker waits on its task queue for ever: when its parent is killed (SIGKILL, the
OOM killer) nobody tells it, and it keeps the parent's copied memory and every file
descriptor it inherited, among them the distribution lock, so no later cycle could run.
Each pool's initializer calls ``end_with_parent``.
"""

from __future__ import annotations

import os
import threading
import time

ORPHANED_EXIT = 70  # EX_SOFTWARE: the worker's parent died under it
POLL_SECONDS = 0.5


def end_with_parent(parent_pid: int) -> None:
    """In a forked worker: exit as soon as ``parent_pid`` is no longer our parent.

    A watch thread rather than Linux's PR_SET_PDEATHSIG, which fires when the forking
    *thread* ends, and a pool may be started from a thread that ends before its parent.
    """
    if os.getppid() != parent_pid:
        os._exit(ORPHANED_EXIT)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(POLL_SECONDS)
        os._exit(ORPHANED_EXIT)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()
