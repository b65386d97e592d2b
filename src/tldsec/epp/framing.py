"""RFC 5734 4 framing: a 4-byte big-endian total length (header included), then the XML.

A frame may not claim to be shorter than its header, nor longer than the configured
limit; the server answers both with 2001. An oversized frame is read and discarded so
the session stays in step, unless it claims more than ``drain_limit`` bytes: then
there is no sensible way to resynchronise and the connection is closed after the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tldsec.epp.errors import CommandSyntaxError

HEADER = 4
MAX_TOTAL = 2**32 - 1
_CHUNK = 65536


class FrameError(CommandSyntaxError):
    """The frame's length header is unacceptable."""

    def __init__(self, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.close = close


def encode(data: bytes) -> bytes:
    total = len(data) + HEADER
    if total > MAX_TOTAL:
        raise ValueError("an EPP frame is at most 2^32-1 bytes")
    return total.to_bytes(HEADER, "big") + data


async def read_frame(
    reader: asyncio.StreamReader,
    max_bytes: int,
    drain_limit: int,
    *,
    started: Callable[[], None] | None = None,
    announced: Callable[[int], None] | None = None,
) -> bytes:
    """The next frame's XML; ``asyncio.IncompleteReadError`` when the peer goes away.

    ``started`` is called when the frame's first byte is in, ``announced`` with the
    length once the header is (the server bounds the frame's time from there)."""
    first = await reader.readexactly(1)
    if started is not None:
        started()
    total = int.from_bytes(first + await reader.readexactly(HEADER - 1), "big")
    if announced is not None:
        announced(total)
    length = total - HEADER
    if length <= 0:
        raise FrameError(f"frame length {total} leaves no room for a message (RFC 5734 4)")
    if length > max_bytes:
        if length > drain_limit:
            raise FrameError(
                f"frame of {length} bytes is far over the {max_bytes}-byte limit; closing",
                close=True,
            )
        while length > 0:
            chunk = await reader.read(min(length, _CHUNK))
            if not chunk:
                raise asyncio.IncompleteReadError(b"", length)
            length -= len(chunk)
        raise FrameError(f"frame of {total - HEADER} bytes exceeds the {max_bytes}-byte limit")
    return await reader.readexactly(length)
