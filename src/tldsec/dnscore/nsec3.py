"""NSEC3 hashing and records (RFC 5155).

``nsec3_hash`` is the iterated SHA-1 of section 5; ``nsec3_rdata`` builds the RDATA of
section 3.2; ``nsec3param_rdata`` that of section 4.2. Building the chain itself (which
names get an NSEC3, with what types) is the signer's job and, independently, the
verifier's.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator

from tldsec.dnscore.rdata import base32hex, type_bitmap

SHA1 = 1  # RFC 5155 11: the only NSEC3 hash algorithm
OPT_OUT = 0x01  # RFC 5155 3.1.2.1
_HEAD = struct.Struct("!BBHB")


def nsec3_hash(name_wire: bytes, salt: bytes, iterations: int) -> bytes:
    """IH(salt, x, k) of RFC 5155 5 over the canonical wire form of a name."""
    digest = hashlib.sha1(name_wire.lower() + salt).digest()
    for _ in range(iterations):
        digest = hashlib.sha1(digest + salt).digest()
    return digest


def hashed_owner(digest: bytes, origin_wire: bytes) -> bytes:
    """The NSEC3 owner name: base32hex(hash) as one label under the zone apex."""
    label = base32hex(digest).encode("ascii")
    return bytes((len(label),)) + label + origin_wire


def nsec3_rdata(
    next_hash: bytes,
    types: set[int] | frozenset[int],
    salt: bytes,
    iterations: int,
    flags: int = 0,
) -> bytes:
    """NSEC3 RDATA (RFC 5155 3.2)."""
    return (
        _HEAD.pack(SHA1, flags, iterations, len(salt))
        + salt
        + bytes((len(next_hash),))
        + next_hash
        + type_bitmap(types)
    )


def nsec3_hashes(names: Iterable[bytes], salt: bytes, iterations: int) -> Iterator[bytes]:
    """``nsec3_hash`` of each name, for a whole zone's worth of names."""
    sha1 = hashlib.sha1
    for name in names:
        digest = sha1(name.lower() + salt).digest()
        for _ in range(iterations):
            digest = sha1(digest + salt).digest()
        yield digest


def nsec3_rdata_head(salt: bytes, iterations: int, hash_length: int, flags: int = 0) -> bytes:
    """NSEC3 RDATA up to the next hashed owner name: what ``nsec3_rdata`` puts before
    the hash; a chain shares it."""
    return _HEAD.pack(SHA1, flags, iterations, len(salt)) + salt + bytes((hash_length,))


def nsec3param_rdata(salt: bytes, iterations: int) -> bytes:
    """NSEC3PARAM RDATA (RFC 5155 4.2); flags are zero in NSEC3PARAM (4.1.2)."""
    return _HEAD.pack(SHA1, 0, iterations, len(salt)) + salt
