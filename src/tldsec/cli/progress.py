"""A progress line on stderr for long runs, only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    """Call with (done, total); redraws at most a few times a second."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self._label = label
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty()
        self._start = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.25 and done < total:
            return
        self._last = now
        rate = done / max(now - self._start, 1e-9)
        pct = 100 * done / total if total else 100
        self._stream.write(f"\r{self._label}: {done:,}/{total:,} ({pct:3.0f}%) {rate:,.0f}/s ")
        if done >= total:
            self._stream.write("\n")
        self._stream.flush()
