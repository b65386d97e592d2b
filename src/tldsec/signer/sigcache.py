"""The signature cache: the previous signed zone's RRSIGs, for reuse without re-reading
the zone file (DPS 6.5).

Written beside each signed zone as ``<zone>.sigcache``; it records a BLAKE2b digest of
the zone file it describes, so a cache that does not belong to the given previous zone
is ignored, never trusted. For each signed RRset it keeps the RRSIGs and a digest of the
RRset's canonical wire form (what the RRSIG covers), not the RDATA itself: a cache is
a fraction of the zone's size. The format is a magic line, then ``marshal`` records of
plain tuples (no code runs on load): the origin and file digest first, then the entries
in chunks, so neither writing nor reading holds a second copy of a large zone at once.
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Iterable, Iterator
from pathlib import Path

from tldsec.atomicfile import replacing
from tldsec.dnscore.zone import RRset, Zone
from tldsec.signer.rrsig import rrset_wire

MAGIC = b"tldsec-sigcache 3\n"
SUFFIX = ".sigcache"
CHUNK_OWNERS = 20_000

_Entry = tuple[int, bytes, tuple[bytes, ...]]  # type, digest of the RRset, its RRSIGs


def rrset_digest(rrset: RRset) -> bytes:
    """What identifies an RRset's signed content: owner, type, class, TTL and RDATA."""
    return hashlib.blake2b(rrset_wire(rrset), digest_size=16).digest()


class SignatureCache:
    """The RRSIGs of one signed zone, handed out once each (``signatures_for``)."""

    def __init__(self, origin: bytes, nodes: dict[bytes, tuple[_Entry, ...]]) -> None:
        self.origin = origin
        self._nodes = nodes

    @classmethod
    def from_zone(cls, zone: Zone) -> SignatureCache:
        return cls(zone.origin, dict(_entries(zone)))

    def signatures_for(self, rrset: RRset) -> tuple[bytes, ...]:
        """The cached RRSIGs if ``rrset`` is byte-identical to the cached one. The owner's
        entries are dropped once all of them were asked for, so memory falls as the
        signer goes through the zone."""
        entries = self._nodes.get(rrset.owner)
        if entries is None:
            return ()
        found: tuple[bytes, ...] = ()
        rest = []
        for entry in entries:
            if entry[0] == rrset.rtype and not found:
                if entry[1] == rrset_digest(rrset):
                    found = entry[2]
            else:
                rest.append(entry)
        if rest:
            self._nodes[rrset.owner] = tuple(rest)
        else:
            del self._nodes[rrset.owner]
        return found

    def __len__(self) -> int:
        return sum(len(e) for e in self._nodes.values())

    def save(self, path: Path, zone_file: Path) -> None:
        """Write atomically, bound to the digest of ``zone_file``."""
        save_cache(self.origin, self._nodes.items(), path, zone_file)

    @classmethod
    def load_for(cls, zone_file: Path, origin: bytes) -> SignatureCache | None:
        """The cache beside ``zone_file`` if it exists and describes exactly that file."""
        path = cache_path(zone_file)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below, read in records
        except OSError:
            return None
        with f:
            if f.read(len(MAGIC)) != MAGIC:
                return None
            try:
                cached_origin, digest = marshal.load(f)
                if cached_origin != origin or digest != file_digest(zone_file):
                    return None
                nodes: dict[bytes, tuple[_Entry, ...]] = {}
                while chunk := marshal.load(f):
                    nodes.update(chunk)
            except (EOFError, ValueError, TypeError):
                return None
        return cls(origin, nodes)


def save_zone_cache(zone: Zone, path: Path, zone_file: Path) -> None:
    """The cache for a signed ``zone`` just written to ``zone_file``, without building a
    whole second copy in memory first."""
    save_cache(zone.origin, _entries(zone), path, zone_file)


def save_cache(
    origin: bytes,
    entries: Iterable[tuple[bytes, tuple[_Entry, ...]]],
    path: Path,
    zone_file: Path,
) -> None:
    with replacing(path, fsync=False) as out:
        out.write(MAGIC)
        marshal.dump((origin, file_digest(zone_file)), out)
        chunk: dict[bytes, tuple[_Entry, ...]] = {}
        for owner, node in entries:
            chunk[owner] = node
            if len(chunk) >= CHUNK_OWNERS:
                marshal.dump(chunk, out)
                chunk = {}
        if chunk:
            marshal.dump(chunk, out)
        marshal.dump({}, out)  # end marker: a truncated file never loads


def _entries(zone: Zone) -> Iterator[tuple[bytes, tuple[_Entry, ...]]]:
    return owner_entries(zone, zone.nodes)


def owner_entries(
    zone: Zone, owners: Iterable[bytes]
) -> Iterator[tuple[bytes, tuple[_Entry, ...]]]:
    """The cache entries of ``owners`` (those with signed RRsets), in that order."""
    nodes = zone.nodes
    for owner in owners:
        entries = tuple((int(r.rtype), rrset_digest(r), r.sigs) for r in nodes[owner] if r.sigs)
        if entries:
            yield owner, entries


def cache_path(zone_file: Path) -> Path:
    return zone_file.with_name(zone_file.name + SUFFIX)


def file_digest(path: Path) -> bytes:
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.digest()
