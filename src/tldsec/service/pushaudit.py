"""The primary's refused pushes into the audit log (decision 54, DPS 4.4.1, 5.6): one
``zone.push_refused`` entry per refusal of the push listener (``distribute/receive.py``),
with the peer's address and the reason.

The listener only queues (``RefusalRecorder.__call__`` never waits, so a peer cannot
slow the listener down through the audit database); one task writes the entries in
order. A flood of refusals (connections over the cap, say) beyond ``QUEUE`` waiting is
counted, not queued, and the count is written with the next entry as
``unrecorded_before``: the log says how many were not recorded one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from tldsec.audit.events import EventType
from tldsec.distribute.receive import Refusal

log = logging.getLogger("tldsec.serve")

QUEUE = 256


class RefusalRecorder:
    """``on_refused`` of the push listener; ``run`` writes what it queued through
    ``write(event, **details)`` (blocking: called in a thread)."""

    def __init__(self, write: Callable[..., None], size: int = QUEUE) -> None:
        self.write = write
        self.queue: asyncio.Queue[Refusal] = asyncio.Queue(size)
        self.unrecorded = 0  # refusals not queued since the last entry written

    def __call__(self, refusal: Refusal) -> None:
        try:
            self.queue.put_nowait(refusal)
        except asyncio.QueueFull:
            self.unrecorded += 1

    async def run(self) -> None:
        while True:
            await self._write(await self.queue.get())

    async def drain(self, seconds: float = 5.0) -> None:
        """Write what is still queued (at a stop, after ``run`` was cancelled), for at
        most ``seconds``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while not self.queue.empty():
                    await self._write(self.queue.get_nowait())

    async def _write(self, refusal: Refusal) -> None:
        details: dict[str, Any] = refusal.as_json()
        if self.unrecorded:
            details["unrecorded_before"] = self.unrecorded
            log.error(
                "push refusals: %d not recorded one by one (more than %d waiting)",
                self.unrecorded,
                self.queue.maxsize,
            )
            self.unrecorded = 0
        await asyncio.to_thread(self.write, EventType.ZONE_PUSH_REFUSED.value, **details)
