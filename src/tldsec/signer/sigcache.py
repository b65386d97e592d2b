"""The signature cache: the previous signed zone's RRSIGs, for reuse without re-reading
the zone file (DPS 6.5).

Written beside each signed zone as ``<zone>.sigcache``; it records a BLAKE2b digest of
the zone file it describes, so a cache that does not belong to the given previous zone
is ignored, never trusted. The format is a magic line, then ``marshal`` records of plain
tuples (no code runs on load): the origin and digest first, then the entries in chunks,
so neither writing nor reading holds a second copy of a large zone at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from tldsec.dnscore.zone import RRset, Zone

MAGIC = b"tldsec-sigcache 2\n"
CHUNK_OWNERS = 20_000
SUFFIX = ".sigcache"

_Entry = tuple[int, int, tuple[bytes, ...], tuple[bytes, ...]]  # type, TTL, RDATAs, RRSIGs


class SignatureCache:
    """Signed RRsets of one zone, looked up like ``Zone.get``."""

    def __init__(self, origin: bytes, nodes: dict[bytes, tuple[_Entry, ...]]) -> None:
        self.origin = origin
        self._nodes = nodes

    @classmethod
    def from_zone(cls, zone: Zone) -> SignatureCache:
        return cls(zone.origin, dict(_entries(zone)))

    def get(self, owner: bytes, rtype: int) -> RRset | None:
        for entry in self._nodes.get(owner, ()):
            if entry[0] == rtype:
                return RRset(owner, rtype, entry[1], list(entry[2]), entry[3])
        return None

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
    origin: bytes, entries: Iterable[tuple[bytes, tuple[_Entry, ...]]], path: Path, zone_file: Path
) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
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
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _entries(zone: Zone) -> Iterator[tuple[bytes, tuple[_Entry, ...]]]:
    for owner, node in zone.nodes.items():
        entries = tuple((int(r.rtype), int(r.ttl), tuple(r.rdatas), r.sigs) for r in node if r.sigs)
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
