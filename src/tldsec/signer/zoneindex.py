"""ZoneIndex: where each owner's block of lines lies in a signed zone file, and what an
incremental re-sign needs to know about it without reading the file.

Written beside each signed zone as ``<zone>.index``, next to ``<zone>.unsigned`` (a copy
of the unsigned input the zone was signed from). Per owner, in canonical order (RFC 4034
6.1): its wire name, the byte length of its block, whether it is an NSEC3 owner, and the
earliest expiration among its RRSIGs. It is bound to the signed file and to the unsigned
copy by size and modification time: an index that does not describe exactly those files
is ignored, never trusted. The format is a magic line and one ``marshal`` record of plain
values (no code runs on load).
"""

from __future__ import annotations

import marshal
import struct
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import IO, Any

from tldsec.atomicfile import replacing
from tldsec.dnscore import names
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset, Zone
from tldsec.signconf import SigningConfig
from tldsec.zonefiles import ZoneFiles

MAGIC = b"tldsec-zoneindex 2\n"
NO_EXPIRY = 0xFFFFFFFF  # an owner without RRSIGs (delegation NS only, glue)

FileStat = tuple[int, int]  # size, mtime in nanoseconds


def file_stat(path: Path) -> FileStat:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def run_parameters(config: SigningConfig, nsec3_ttl: int) -> tuple[object, ...]:
    """What must not change for a zone to be patched rather than signed afresh: the keys
    that sign the zone (a new ZSK re-signs every RRset), the NSEC3 parameters and TTL.
    The KSKs and the published DNSKEY set may change: a patch rebuilds and re-signs the
    apex DNSKEY RRset every time."""
    return (
        tuple(sorted((k.key_id, int(k.algorithm)) for k in config.zone_signers)),
        config.nsec3_salt,
        config.nsec3_iterations,
        nsec3_ttl,
    )


@dataclass(slots=True)
class ZoneIndex:
    """The block layout of one signed zone file."""

    origin: bytes
    header_size: int  # the comment lines before the first owner
    owners: list[bytes]  # wire names, canonical order
    sizes: array[int]  # bytes of each owner's block
    nsec3: bytearray  # 1 where the owner is an NSEC3 owner
    expiry: array[int]  # earliest RRSIG expiration per owner, NO_EXPIRY if none
    parameters: tuple[object, ...]
    signed: FileStat
    unsigned: FileStat

    def __len__(self) -> int:
        return len(self.owners)

    def offsets(self) -> array[int]:
        """The start of each owner's block, and the end of the last one."""
        return array("Q", accumulate(self.sizes, initial=self.header_size))

    def position(self, owner: bytes) -> int:
        """Where ``owner`` is, or would be inserted, in canonical order."""
        return bisect_left(self.owners, names.canonical_key(owner), key=names.canonical_key)

    def contains(self, owner: bytes, position: int) -> bool:
        return position < len(self.owners) and self.owners[position] == owner

    @classmethod
    def for_zone(
        cls,
        zone: Zone,
        header_size: int,
        block_sizes: Sequence[int],
        parameters: tuple[object, ...],
        signed: Path,
        unsigned: Path,
    ) -> ZoneIndex:
        """The index of a signed ``zone`` just written to ``signed`` (``block_sizes`` from
        the writer), whose input was copied to ``unsigned``."""
        owners = zone.canonical_owners()
        if len(block_sizes) != len(owners):
            raise ValueError("the writer reported a block size per owner it did not write")
        nodes = zone.nodes
        nsec3 = bytearray(len(owners))
        expiry = array("I", bytes(4 * len(owners)))
        earliest = earliest_expiration
        for i, owner in enumerate(owners):
            node = nodes[owner]
            expiry[i] = earliest(node)
            if node[0].rtype == RRType.NSEC3:
                nsec3[i] = 1
        return cls(
            origin=zone.origin,
            header_size=header_size,
            owners=owners,
            sizes=block_sizes if isinstance(block_sizes, array) else array("Q", block_sizes),
            nsec3=nsec3,
            expiry=expiry,
            parameters=parameters,
            signed=file_stat(signed),
            unsigned=file_stat(unsigned),
        )

    def save(self, path: Path) -> None:
        """Write atomically."""
        body: Any = (
            self.origin,
            self.header_size,
            len(self.owners),
            self.sizes.tobytes(),
            bytes(self.nsec3),
            self.expiry.tobytes(),
            self.parameters,
            self.signed,
            self.unsigned,
        )
        with replacing(path, fsync=False) as out:
            out.write(MAGIC)
            _write_record(out, body)
            # The owner names in chunks: one marshal image of millions of names would
            # be a second copy of them in memory, at the signer's peak.
            for start in range(0, len(self.owners), _OWNER_CHUNK):
                _write_record(out, self.owners[start : start + _OWNER_CHUNK])

    @classmethod
    def load_for(cls, signed: Path) -> ZoneIndex | None:
        """The index of ``signed`` if it and the unsigned copy are exactly what it says."""
        try:
            with open(ZoneFiles(signed).index, "rb") as f:
                if f.read(len(MAGIC)) != MAGIC:
                    return None
                data = f.read()
            records = _read_records(data)
            body = next(records)
            origin, header_size, count, sizes, nsec3, expiry, parameters, st, ust = body
            owners: list[bytes] = []
            for chunk in records:
                owners += chunk
            if len(owners) != count:
                return None
            index = cls(
                origin,
                header_size,
                owners,
                _array("Q", sizes),
                bytearray(nsec3),
                _array("I", expiry),
                tuple(parameters),
                (int(st[0]), int(st[1])),
                (int(ust[0]), int(ust[1])),
            )
            if file_stat(signed) != index.signed:
                return None
            if file_stat(ZoneFiles(signed).unsigned) != index.unsigned:
                return None
        except (OSError, EOFError, ValueError, TypeError, StopIteration):
            return None
        n = len(index.owners)
        if not (len(index.sizes) == len(index.nsec3) == len(index.expiry) == n):
            return None
        return index


_OWNER_CHUNK = 100_000
_LENGTH = struct.Struct("!Q")


def _write_record(out: IO[bytes], value: Any) -> None:
    data = marshal.dumps(value)
    out.write(_LENGTH.pack(len(data)))
    out.write(data)


def _read_records(data: bytes) -> Iterator[Any]:
    """The marshal records of an index file, each behind its length."""
    view = memoryview(data)
    at = 0
    while at < len(data):
        (length,) = _LENGTH.unpack_from(data, at)
        at += _LENGTH.size
        if at + length > len(data):
            raise ValueError("truncated index")
        yield marshal.loads(view[at : at + length])
        at += length


def _array(code: str, data: bytes) -> array[int]:
    a = array(code)
    a.frombytes(data)
    return a


def earliest_expiration(node: list[RRset]) -> int:
    """The earliest RRSIG expiration among one owner's RRsets (RFC 4034 3.1.5: bytes 8-12
    of the RDATA), or NO_EXPIRY."""
    earliest = NO_EXPIRY
    for rrset in node:
        for sig in rrset.sigs:
            expiration = int.from_bytes(sig[8:12], "big")
            if expiration < earliest:
                earliest = expiration
    return earliest
