"""Work on every core: forked worker processes that read the zone from the parent's memory.

The zone is parsed once in the parent; ``ForkedMap`` then forks workers that see it
through copy-on-write memory, hands each a range of indexes, and collects the small
results (failing records only). The parent is free to run other checks while the
workers run. ``_FORK_TASK`` is the one module-level variable: it exists only to hand
the task across ``fork`` and is cleared when the map is done.

The workers are a ``concurrent.futures.ProcessPoolExecutor``: a worker that dies (killed,
out of memory) breaks the pool and ``result()`` raises ``VerificationFailed`` at once; a
``multiprocessing.Pool`` would replace the worker and wait forever for the lost range.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Generic, TypeVar

from tldsec.errors import VerificationFailed
from tldsec.forked import end_with_parent

T = TypeVar("T")
R = TypeVar("R")
Task = Callable[[int, int], list[T]]
Progress = Callable[[int, int], None]  # (items done, items in all): tldsec/progress.py
# Makes the progress of one part of the work, named for a person ("signatures (RRsets)").
ProgressFor = Callable[[str], Progress]

PARALLEL_MIN_ITEMS = 2048  # below this, forking costs more than it saves
IN_PROCESS_STEPS = 20  # with progress and no workers: the range in this many calls
CHUNKS_PER_WORKER = 8  # uneven chunks (NSEC3 vs DNSKEY) balance out

_FORK_TASK: Callable[[int, int], list[object]] | None = None


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for a block (restored after).

    A zone is millions of small objects without reference cycles; while they are built
    the collector would walk them again and again for nothing, and in forked workers it
    would touch (and so copy) pages they share with the parent.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ForkedMap(Generic[T]):
    """Run ``task(start, end)`` over ``range(total)`` in forked workers, in the background.

    ``result()`` waits and returns the concatenated results in index order. With one
    worker, or few items, the task runs in this process at ``result()``. A ``progress``
    given to ``result()`` hears (items done, items in all) as each range completes.
    """

    def __init__(
        self,
        task: Task[T],
        total: int,
        workers: int,
        *,
        min_items: int = PARALLEL_MIN_ITEMS,
        chunk: int | None = None,
    ) -> None:
        global _FORK_TASK
        self._task = task
        self._total = total
        self._pool: ProcessPoolExecutor | None = None
        self._parts: list[Future[list[object]]] = []
        self._ranges: list[tuple[int, int]] = []
        workers = cpu_count() if workers <= 0 else workers
        self.workers = 1 if total < min_items else min(workers, total)
        if self.workers <= 1:
            return
        if chunk is None:
            chunk = max(256, -(-total // (self.workers * CHUNKS_PER_WORKER)))
        ranges = [(s, min(s + chunk, total)) for s in range(0, total, chunk)]
        self._ranges = ranges
        if _FORK_TASK is not None:
            raise RuntimeError("a ForkedMap is already running in this process")
        _FORK_TASK = task  # type: ignore[assignment]
        ctx = multiprocessing.get_context("fork")
        # Objects that exist now are never collected in the workers: the collector does
        # not touch (and so copy) the pages of the zone they share with the parent.
        gc.freeze()
        self._pool = ProcessPoolExecutor(
            self.workers, mp_context=ctx, initializer=end_with_parent, initargs=(os.getpid(),)
        )
        self._parts = [self._pool.submit(_run, start, end) for start, end in ranges]

    def result(self, progress: Progress | None = None) -> list[T]:
        global _FORK_TASK
        if self._pool is None:
            return self._in_process(progress)
        try:
            if progress is not None:
                self._report(progress)
            parts = [future.result() for future in self._parts]
        except BrokenProcessPool as exc:
            raise _died(exc) from exc
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._parts = []
            _FORK_TASK = None
            gc.unfreeze()
        return [item for part in parts for item in part]  # type: ignore[misc]

    def _in_process(self, progress: Progress | None) -> list[T]:
        total = self._total
        if progress is None:
            return self._task(0, total)
        step = max(1, -(-total // IN_PROCESS_STEPS))
        out: list[T] = []
        for start in range(0, total, step):
            end = min(start + step, total)
            out.extend(self._task(start, end))
            progress(end, total)
        return out

    def _report(self, progress: Progress) -> None:
        """Wait for the ranges, telling ``progress`` as each completes."""
        sizes = {
            id(f): end - start for f, (start, end) in zip(self._parts, self._ranges, strict=True)
        }
        pending = set(self._parts)
        done = 0
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()  # a dead worker fails here, at once
                done += sizes[id(future)]
            progress(done, self._total)

    def abandon(self) -> None:
        """Stop the workers (on an error in the parent) without waiting for results."""
        global _FORK_TASK
        if self._pool is not None:
            _terminate(self._pool)
            self._pool = None
            self._parts = []
            _FORK_TASK = None
            gc.unfreeze()


def _run(start: int, end: int) -> list[object]:
    assert _FORK_TASK is not None
    return _FORK_TASK(start, end)


class Background(Generic[R]):
    """``function(*args)`` for each ``args`` in forked processes (at most ``workers``),
    while the caller does other work; ``results()`` in call order (a process that dies
    fails it at once, as in ``ForkedMap``); ``close()`` ends them without waiting."""

    def __init__(
        self, function: Callable[..., R], calls: list[tuple[object, ...]], workers: int = 1
    ) -> None:
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max(1, workers),
            mp_context=multiprocessing.get_context("fork"),
            initializer=end_with_parent,
            initargs=(os.getpid(),),
        )
        self._futures = [self._pool.submit(function, *args) for args in calls]

    def results(self) -> list[R]:
        try:
            return [future.result() for future in self._futures]
        except BrokenProcessPool as exc:
            raise _died(exc) from exc
        finally:
            self.close()

    def close(self) -> None:
        if self._pool is None:
            return
        _terminate(self._pool)
        self._pool = None


def _died(exc: BrokenProcessPool) -> VerificationFailed:
    return VerificationFailed(
        f"a verification worker process died ({exc}): the zone is not verified and must "
        "not be distributed; look for the kernel's OOM killer, then verify again"
    )


def _terminate(pool: ProcessPoolExecutor) -> None:
    """End a pool's processes now (ProcessPoolExecutor has no terminate() before 3.14)."""
    workers = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join()
