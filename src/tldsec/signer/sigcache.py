"""The signature cache: the previous signed zone's RRSIGs, for reuse without re-reading
the zone file (DPS 6.5).

Written beside each signed zone as ``<zone>.sigcache``; it records a BLAKE2b digest of
the zone file it describes, so a cache that does not belong to the given previous zone
is ignored, never trusted. The format is ``marshal`` of plain tuples (no code runs on
load), behind a magic line with the format version and the origin.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import tempfile
from pathlib import Path

from tldsec.dnscore.zone import RRset, Zone

MAGIC = b"tldsec-sigcache 1\n"
SUFFIX = ".sigcache"

_Entry = tuple[int, int, tuple[bytes, ...], tuple[bytes, ...]]  # type, TTL, RDATAs, RRSIGs


class SignatureCache:
    """Signed RRsets of one zone, looked up like ``Zone.get``."""

    def __init__(self, origin: bytes, nodes: dict[bytes, tuple[_Entry, ...]]) -> None:
        self.origin = origin
        self._nodes = nodes

    @classmethod
    def from_zone(cls, zone: Zone) -> SignatureCache:
        nodes: dict[bytes, tuple[_Entry, ...]] = {}
        for owner, node in zone.nodes.items():
            entries = tuple(
                (int(r.rtype), int(r.ttl), tuple(r.rdatas), r.sigs) for r in node if r.sigs
            )
            if entries:
                nodes[owner] = entries
        return cls(zone.origin, nodes)

    def get(self, owner: bytes, rtype: int) -> RRset | None:
        for entry in self._nodes.get(owner, ()):
            if entry[0] == rtype:
                return RRset(owner, rtype, entry[1], list(entry[2]), entry[3])
        return None

    def __len__(self) -> int:
        return sum(len(e) for e in self._nodes.values())

    def save(self, path: Path, zone_file: Path) -> None:
        """Write atomically, bound to the digest of ``zone_file``."""
        payload = marshal.dumps((self.origin, file_digest(zone_file), self._nodes))
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(MAGIC)
                out.write(payload)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @classmethod
    def load_for(cls, zone_file: Path, origin: bytes) -> SignatureCache | None:
        """The cache beside ``zone_file`` if it exists and describes exactly that file."""
        path = cache_path(zone_file)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if not data.startswith(MAGIC):
            return None
        try:
            cached_origin, digest, nodes = marshal.loads(data[len(MAGIC) :])
        except (EOFError, ValueError, TypeError):
            return None
        if cached_origin != origin or digest != file_digest(zone_file):
            return None
        return cls(origin, nodes)


def cache_path(zone_file: Path) -> Path:
    return zone_file.with_name(zone_file.name + SUFFIX)


def file_digest(path: Path) -> bytes:
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.digest()
