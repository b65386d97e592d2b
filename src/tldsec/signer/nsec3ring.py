"""Nsec3Ring: the NSEC3 chain of a re-signed zone in hash order (RFC 5155 7.1), as the
previous chain with a few hashed owners taken out and a few put in, without building the
new chain: each record's predecessor and successor are found by bisection.
"""

from __future__ import annotations

import base64
from bisect import bisect_left, bisect_right


class Nsec3Ring:
    """The new NSEC3 chain in hash order, as the old one with a few names out and in."""

    def __init__(self, old: list[bytes], removed: set[bytes], added: list[bytes]) -> None:
        self.old, self.removed, self.added = old, removed, added

    def predecessor(self, h: bytes) -> bytes | None:
        best = self._old_before(bisect_left(self.old, h) - 1)
        k = bisect_left(self.added, h) - 1
        if k >= 0 and (best is None or self.added[k] > best):
            best = self.added[k]
        if best is None:  # h is first in hash order: the chain wraps (RFC 5155 7.1)
            best = self._old_before(len(self.old) - 1)
            if self.added and (best is None or self.added[-1] > best):
                best = self.added[-1]
        return best

    def successor(self, h: bytes) -> bytes:
        best = self._old_after(bisect_right(self.old, h))
        k = bisect_right(self.added, h)
        if k < len(self.added) and (best is None or self.added[k] < best):
            best = self.added[k]
        if best is None:  # h is last: its next hashed owner is the first
            best = self._old_after(0)
            if self.added and (best is None or self.added[0] < best):
                best = self.added[0]
        assert best is not None
        return best

    def _old_before(self, j: int) -> bytes | None:
        while j >= 0 and self.old[j] in self.removed:
            j -= 1
        return self.old[j] if j >= 0 else None

    def _old_after(self, j: int) -> bytes | None:
        while j < len(self.old) and self.old[j] in self.removed:
            j += 1
        return self.old[j] if j < len(self.old) else None


def nsec3_bitmap(rdata: bytes) -> bytes:
    """The type bitmap field of NSEC3 RDATA (RFC 5155 3.2)."""
    salt_len = rdata[4]
    i = 5 + salt_len
    return rdata[i + 1 + rdata[i] :]


def hash_of(hashed_owner: bytes) -> bytes:
    label = hashed_owner[1 : 1 + hashed_owner[0]]
    return base64.b32hexdecode(label.upper() + b"=" * (-len(label) % 8))
