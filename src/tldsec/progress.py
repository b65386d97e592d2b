"""Progress of a long run on stderr (``tldsec sign``, ``tldsec verify``, ``tldsec zone
build`` and a cycle's build, signing and verify stages): on a terminal a bar with the
rate and the time left (rich), otherwise a line at most every ``interval`` seconds, for
a log or the journal. ``$TLDSEC_PROGRESS_SECONDS`` sets that interval (default 10)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

Progress = Callable[[int, int], None]  # (items done, items in all)
ProgressFor = Callable[[str], Progress]  # the progress of one named part of a run
INTERVAL_ENV = "TLDSEC_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 10.0


def default_interval() -> float:
    """Seconds between two progress lines off a terminal: ``$TLDSEC_PROGRESS_SECONDS``,
    else 10 (a value that is not a number >= 0 is ignored)."""
    try:
        value = float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value >= 0 else DEFAULT_INTERVAL


def progress_lines(prefix: str) -> Callable[[str], ProgressLine]:
    """The progress of each part of a run, labelled ``prefix: part`` (``cycle: verify``)."""
    return lambda what: ProgressLine(f"{prefix}: {what}")


class ProgressLine:
    """Call with (done, total). On a terminal a rich progress bar (rate, ETA); elsewhere
    ``label: done/total (pct) rate/s, about N s left`` every ``interval`` seconds and at
    the end, so a run under systemd or cron is not silent for minutes (issue 22)."""

    def __init__(
        self, label: str, stream: TextIO | None = None, interval: float | None = None
    ) -> None:
        self._label = label
        self._stream = stream or sys.stderr
        self._interval = default_interval() if interval is None else interval
        self._start = time.monotonic()
        self._last = self._start
        self._bar: Any = None
        self._task: Any = None
        self._tty = self._stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self._tty:
            self._draw(done, total)
            return
        now = time.monotonic()
        if done < total and now - self._last < self._interval:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        rate = done / elapsed
        left = (total - done) / rate if rate > 0 else 0.0
        pct = 100 * done / total if total else 100
        self._stream.write(
            f"{self._label}: {done:,}/{total:,} ({pct:.0f}%) {rate:,.0f}/s"
            + (f", about {left:,.0f} s left\n" if done < total else f", {elapsed:.1f} s\n")
        )
        self._stream.flush()

    def _draw(self, done: int, total: int) -> None:
        if self._bar is None:
            from rich.console import Console  # only on a terminal
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=Console(file=self._stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self._label, total=total, rate="")
        elapsed = max(time.monotonic() - self._start, 1e-9)
        self._bar.update(self._task, completed=done, total=total, rate=f"{done / elapsed:,.0f}/s")
        if done >= total:
            self._bar.stop()
