"""The NSEC3 chain the signer adds (RFC 5155 7.1, DPS 6.2): one NSEC3 per authoritative
name, delegation and empty non-terminal, no opt-out.

Hashing a million names is a few seconds of one core; ``OwnerHashes`` does it in a forked
process while the parent checks and classifies the zone (``structure.analyse``), writing
each owner's SHA-1 digest and its base32hex label into memory shared with the parent.
``nsec3_chain`` uses those hashes when they describe the zone's owners, and hashes
itself otherwise (small zones, or a zone whose owners changed in between).
"""

from __future__ import annotations

import gc
import mmap
import multiprocessing
from typing import Any

from tldsec.dnscore import names, nsec3, rdata
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset, Zone
from tldsec.errors import SigningError

PREHASH_MIN_OWNERS = 50_000  # below this, forking costs more than it saves
_DIGEST = 20  # SHA-1, the only NSEC3 hash (RFC 5155 11)
_LABEL = 32  # base32hex of 20 octets
_RECORD = _DIGEST + _LABEL


class OwnerHashes:
    """NSEC3 hashes of a zone's owner names (in ``zone.nodes`` order), made by a child."""

    def __init__(self, zone: Zone, salt: bytes, iterations: int) -> None:
        self.owners = list(zone.nodes)
        self.salt = salt
        self.iterations = iterations
        self._buffer = mmap.mmap(-1, max(1, len(self.owners) * _RECORD))  # shared on fork
        ctx = multiprocessing.get_context("fork")
        self._process: Any = ctx.Process(
            target=_fill, args=(self.owners, salt, iterations, self._buffer), daemon=True
        )
        self._process.start()

    def wait(self) -> mmap.mmap | None:
        """The filled buffer, or None if the child failed (the caller hashes itself)."""
        self._process.join()
        return self._buffer if self._process.exitcode == 0 else None

    def close(self) -> None:
        """Stop the child if it still runs and free the buffer (twice is harmless)."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        if not self._buffer.closed:
            self._buffer.close()


def start_hashing(
    zone: Zone, salt: bytes, iterations: int, min_owners: int = PREHASH_MIN_OWNERS
) -> OwnerHashes | None:
    """Hash ``zone``'s owners in a child now, if the zone is large enough to gain by it."""
    if len(zone.nodes) < min_owners:
        return None
    return OwnerHashes(zone, salt, iterations)


def _fill(owners: list[bytes], salt: bytes, iterations: int, buffer: mmap.mmap) -> None:
    gc.disable()
    out = bytearray()
    position = 0
    base32hex = rdata.base32hex
    for digest in nsec3.nsec3_hashes(owners, salt, iterations):
        out += digest
        out += base32hex(digest).encode("ascii")
        if len(out) >= 1 << 20:
            buffer[position : position + len(out)] = out
            position += len(out)
            out.clear()
    buffer[position : position + len(out)] = out


def nsec3_chain(
    zone: Zone,
    types_at: dict[bytes, frozenset[int]],
    salt: bytes,
    iterations: int,
    ttl: int,
    hashes: OwnerHashes | None = None,
) -> list[RRset]:
    """The NSEC3 RRsets for the names in ``types_at`` (name -> its type bitmap's types),
    in hash order."""
    # digest -> the name's index in ``listed`` (hashed by the child) or -1 - its index in
    # ``others`` (hashed here).
    hashed: dict[bytes, int] = {}
    listed: list[bytes] = []
    others: list[bytes] = []
    buffer = None
    if (
        hashes is not None
        and hashes.salt == salt
        and hashes.iterations == iterations
        and len(hashes.owners) == len(zone.nodes)
    ):
        buffer = hashes.wait()
    if buffer is not None and hashes is not None:
        listed = hashes.owners
        for i, name in enumerate(listed):
            if name in types_at:
                offset = i * _RECORD
                _record(hashed, buffer[offset : offset + _DIGEST], i, listed, others)
        nodes = zone.nodes
        others = [name for name in types_at if name not in nodes]  # empty non-terminals
    else:
        others = list(types_at)
    for j, digest in enumerate(nsec3.nsec3_hashes(others, salt, iterations)):
        _record(hashed, digest, -1 - j, listed, others)

    order = sorted(hashed)
    chain: list[RRset] = []
    if not order:
        return chain
    head = nsec3.nsec3_rdata_head(salt, iterations, len(order[0]))
    bitmaps: dict[frozenset[int], bytes] = {}
    nodes = zone.nodes
    origin = zone.origin
    label_size = bytes((_LABEL,))
    nsec3_type = RRType.NSEC3
    append = chain.append
    following = order[1:] + order[:1]  # the next hashed owner, the last wrapping to the first
    for digest, next_hash in zip(order, following, strict=True):
        i = hashed[digest]
        if i >= 0 and buffer is not None:
            name = listed[i]
            offset = i * _RECORD + _DIGEST
            owner = label_size + buffer[offset : offset + _LABEL] + origin
        else:
            name = others[-1 - i]
            owner = nsec3.hashed_owner(digest, origin)
        types = types_at[name]
        bitmap = bitmaps.get(types)
        if bitmap is None:
            bitmap = bitmaps[types] = rdata.type_bitmap(types)
        if owner in nodes:
            raise SigningError(
                f"{names.to_text(owner)} is both a name in the zone and an "
                "NSEC3 owner; choose another salt"
            )
        append(RRset(owner, nsec3_type, ttl, [head + next_hash + bitmap]))
    return chain


def _record(
    hashed: dict[bytes, int], digest: bytes, index: int, listed: list[bytes], others: list[bytes]
) -> None:
    other = hashed.setdefault(digest, index)
    if other != index:

        def name(i: int) -> bytes:
            return listed[i] if i >= 0 else others[-1 - i]

        raise SigningError(
            f"NSEC3 hash collision between {names.to_text(name(index))} and "
            f"{names.to_text(name(other))}: choose another salt (RFC 5155 7.1)"
        )
