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
from array import array
from typing import Any

from tldsec.dnscore import names, nsec3, rdata
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset, Zone
from tldsec.errors import SigningError

PREHASH_MIN_OWNERS = 50_000  # below this, forking costs more than it saves
_DIGEST = 20  # SHA-1, the only NSEC3 hash (RFC 5155 11)
_LABEL = 32  # base32hex of 20 octets
_RECORD = _DIGEST + _LABEL
_INDEX = 4  # an owner's index in the hash order (array "I")


class OwnerHashes:
    """NSEC3 hashes of a zone's owner names (in ``zone.nodes`` order), made by a child,
    and the owners' order by hash, which the child sorts too."""

    def __init__(self, zone: Zone, salt: bytes, iterations: int) -> None:
        self.owners = list(zone.nodes)
        self.salt = salt
        self.iterations = iterations
        size = len(self.owners) * (_RECORD + _INDEX)
        self._buffer = mmap.mmap(-1, max(1, size))  # shared on fork
        ctx = multiprocessing.get_context("fork")
        self._process: Any = ctx.Process(
            target=_fill, args=(self.owners, salt, iterations, self._buffer), daemon=True
        )
        self._process.start()

    def wait(self) -> mmap.mmap | None:
        """The filled buffer, or None if the child failed (the caller hashes itself)."""
        self._process.join()
        return self._buffer if self._process.exitcode == 0 else None

    def order(self) -> array[int]:
        """Indexes into ``owners``, by hash (after ``wait`` returned the buffer)."""
        start = len(self.owners) * _RECORD
        order = array("I")
        order.frombytes(self._buffer[start : start + len(self.owners) * _INDEX])
        return order

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
    digests = list(nsec3.nsec3_hashes(owners, salt, iterations))
    for digest in digests:
        out += digest
        out += base32hex(digest).encode("ascii")
        if len(out) >= 1 << 20:
            buffer[position : position + len(out)] = out
            position += len(out)
            out.clear()
    buffer[position : position + len(out)] = out
    position += len(out)
    order = array("I", sorted(range(len(digests)), key=digests.__getitem__))
    buffer[position : position + len(order) * _INDEX] = order.tobytes()


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
    # Each name as (digest, ref): ref >= 0 is its index in ``listed`` (hashed by the
    # child), ref < 0 is -1 - its index in ``others`` (hashed here).
    listed: list[bytes] = []
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
        # Looked up in the zone's order, which is the order of the names in memory: in
        # hash order, a million lookups are a million cache misses.
        kinds = list(map(types_at.get, listed))
        # The child's order, less the names without an NSEC3 (occluded ones).
        refs = [i for i in hashes.order() if kinds[i] is not None]
        digests = [buffer[i * _RECORD : i * _RECORD + _DIGEST] for i in refs]
        nodes = zone.nodes
        others = [name for name in types_at if name not in nodes]  # empty non-terminals
    else:
        refs, digests, others, kinds = [], [], list(types_at), []
    if others:
        # Two sorted runs: sorting them is one merge.
        hashed_here = sorted(
            (digest, -1 - j)
            for j, digest in enumerate(nsec3.nsec3_hashes(others, salt, iterations))
        )
        merged = sorted([*zip(digests, refs, strict=True), *hashed_here])
        digests = [d for d, _ in merged]
        refs = [r for _, r in merged]

    def name_of(ref: int) -> bytes:
        return listed[ref] if ref >= 0 else others[-1 - ref]

    chain: list[RRset] = []
    if not digests:
        return chain
    head = nsec3.nsec3_rdata_head(salt, iterations, len(digests[0]))
    bitmaps: dict[frozenset[int], bytes] = {}
    nodes = zone.nodes
    origin = zone.origin
    label_size = bytes((_LABEL,))
    nsec3_type = RRType.NSEC3
    append = chain.append
    following = digests[1:] + digests[:1]  # the next hashed owner, the last wrapping
    # Zone names that could equal an NSEC3 owner: one label of 32 characters under the
    # origin. A TLD rarely has any, so the check costs nothing per record.
    size = len(origin) + 1 + _LABEL
    lookalikes = {o for o in nodes if o[0] == _LABEL and len(o) == size}
    previous = b""
    for digest, next_hash, ref in zip(digests, following, refs, strict=True):
        if digest == previous:
            raise SigningError(
                f"NSEC3 hash collision between {names.to_text(name_of(ref))} and "
                f"{names.to_text(name_of(refs[len(chain) - 1]))}: choose another salt "
                "(RFC 5155 7.1)"
            )
        previous = digest
        if ref >= 0 and buffer is not None:
            types = kinds[ref]
            offset = ref * _RECORD + _DIGEST
            owner = label_size + buffer[offset : offset + _LABEL] + origin
        else:
            types = types_at[others[-1 - ref]]
            owner = nsec3.hashed_owner(digest, origin)
        assert types is not None
        bitmap = bitmaps.get(types)
        if bitmap is None:
            bitmap = bitmaps[types] = rdata.type_bitmap(types)
        if lookalikes and owner in lookalikes:
            raise SigningError(
                f"{names.to_text(owner)} is both a name in the zone and an "
                "NSEC3 owner; choose another salt"
            )
        append(RRset(owner, nsec3_type, ttl, [head + next_hash + bitmap]))
    return chain
