"""Check "nsec3": the NSEC3 chain the zone must have, computed independently (RFC 5155).

Expected: one NSEC3PARAM at the apex with the policy's parameters (SHA-1, flags 0; DPS
6.2, RFC 9276); exactly one NSEC3 per authoritative name, delegation and empty
non-terminal (RFC 5155 7.1) and none for glue or occluded names; every NSEC3 with the
NSEC3PARAM's parameters, opt-out clear (DPS 6.2: no opt-out); the chain sorted by hash
and closed (the last points to the first); each type bitmap exactly the types at its
name (RFC 5155 3.2.1, RFC 4035 2.3 at delegations).
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import time
from collections.abc import Iterator

from tldsec.dnscore import names, rdata
from tldsec.dnscore.types import RRType, type_text
from tldsec.dnscore.zone import Zone
from tldsec.policy import DenialPolicy
from tldsec.verify.report import CheckResult, Finding
from tldsec.verify.structure import Structure, expected_bitmap_types

NAME = "nsec3"
SHA1 = 1  # RFC 5155 11
OPT_OUT = 0x01  # RFC 5155 3.1.2.1
_HEAD = struct.Struct("!BBHB")
_HASH_LABEL = re.compile(rb"[0-9a-v]{32}\Z")


def nsec3_hash(name: bytes, salt: bytes, iterations: int) -> bytes:
    """IH(salt, x, k) of RFC 5155 5 over a canonical (lowercase) wire name."""
    sha1 = hashlib.sha1
    digest = sha1(name + salt).digest()
    for _ in range(iterations):
        digest = sha1(digest + salt).digest()
    return digest


def b32hex(digest: bytes) -> str:
    """RFC 4648 7, lowercase, no padding: how an NSEC3 owner label spells a hash."""
    return base64.b32hexencode(digest).rstrip(b"=").lower().decode("ascii")


def _label_hash(label: bytes) -> bytes:
    # base32hex digits are Python's base-32 digits; 32 of them are the 20 octets of SHA-1.
    return int(label, 32).to_bytes(20, "big")


def check_nsec3(zone: Zone, structure: Structure, denial: DenialPolicy | None) -> CheckResult:
    t0 = time.perf_counter()
    findings = list(_nsec3(zone, structure, denial))
    return CheckResult.from_findings(NAME, findings, time.perf_counter() - t0)


def _nsec3(zone: Zone, structure: Structure, denial: DenialPolicy | None) -> Iterator[Finding]:
    origin = zone.origin
    apex = names.to_text(origin)
    nodes = zone.nodes

    # NSEC3PARAM (RFC 5155 4): one, at the apex, matching the policy.
    param = zone.get(origin, RRType.NSEC3PARAM)
    salt: bytes | None = None
    iterations = 0
    if param is None or not param.rdatas:
        yield Finding(apex, "NSEC3PARAM", "the apex has no NSEC3PARAM")
    else:
        if len(param.rdatas) > 1:
            yield Finding(apex, "NSEC3PARAM", f"{len(param.rdatas)} NSEC3PARAM records, not one")
        p = param.rdatas[0]
        alg, flags, iterations, salt_len = _HEAD.unpack_from(p)
        salt = p[5 : 5 + salt_len]
        if alg != SHA1:
            yield Finding(apex, "NSEC3PARAM", f"hash algorithm {alg}, not 1 (SHA-1)")
        if flags:
            yield Finding(apex, "NSEC3PARAM", f"flags {flags}, not 0 (RFC 5155 4.1.2)")
        if denial is not None:
            if iterations != denial.nsec3_iterations:
                yield Finding(
                    apex,
                    "NSEC3PARAM",
                    f"{iterations} iterations; the policy has {denial.nsec3_iterations} "
                    "(DPS 6.2, RFC 9276)",
                )
            if salt != denial.nsec3_salt:
                yield Finding(
                    apex,
                    "NSEC3PARAM",
                    f"salt {salt.hex() or '-'}; the policy has "
                    f"{denial.nsec3_salt.hex() or '-'} (DPS 6.2, RFC 9276)",
                )
    if salt is None:
        if denial is None:
            return
        salt, iterations = denial.nsec3_salt, denial.nsec3_iterations

    # Expected: the hashed owner of every name that needs an NSEC3, with its bitmap.
    suffix = origin
    expected: dict[bytes, tuple[bytes, frozenset[int]]] = {}  # hash -> name, types
    for kind, group in (
        ("authoritative", structure.authoritative),
        ("delegation", structure.delegations),
        ("ent", structure.empty_non_terminals),
    ):
        for name in group:
            digest = nsec3_hash(name, salt, iterations)
            other = expected.get(digest)
            if other is not None:
                yield Finding(
                    names.to_text(name),
                    "NSEC3",
                    f"hash collides with {names.to_text(other[0])} (RFC 5155 7.1)",
                )
            expected[digest] = (name, expected_bitmap_types(kind, nodes.get(name)))
    hidden: dict[bytes, bytes] = {}
    for name in structure.occluded:
        hidden[nsec3_hash(name, salt, iterations)] = name

    # Each NSEC3 present: where it is, its parameters, flags and bitmap.
    present: list[tuple[bytes, bytes, bytes]] = []  # (hash, owner, rdata)
    bitmap_cache: dict[frozenset[int], bytes] = {}
    colliding = set(structure.nsec3_with_data)
    for owner in structure.nsec3_owners:
        rrset = next(r for r in nodes[owner] if r.rtype == RRType.NSEC3)
        where = names.to_text(owner)
        if owner in colliding:
            yield Finding(where, "NSEC3", "an NSEC3 owner is also a name with other data")
        label = owner[1 : 1 + owner[0]]
        if owner[0] + 1 + len(suffix) != len(owner) or not owner.endswith(suffix):
            yield Finding(where, "NSEC3", "an NSEC3 owner must be one label below the apex")
            continue
        if not _HASH_LABEL.match(label):
            yield Finding(where, "NSEC3", "the owner label is not a base32hex SHA-1 hash")
            continue
        if len(rrset.rdatas) != 1:
            yield Finding(where, "NSEC3", f"{len(rrset.rdatas)} NSEC3 records at one owner")
        rd = rrset.rdatas[0]
        try:
            alg, flags, its, slen = _HEAD.unpack_from(rd)
            nsalt = rd[5 : 5 + slen]
            hlen = rd[5 + slen]
            next_hash = rd[6 + slen : 6 + slen + hlen]
            bitmap = rd[6 + slen + hlen :]
            if len(next_hash) != hlen:
                raise ValueError("truncated")
        except (struct.error, IndexError, ValueError):
            yield Finding(where, "NSEC3", "malformed NSEC3 RDATA")
            continue
        if alg != SHA1 or its != iterations or nsalt != salt:
            yield Finding(
                where,
                "NSEC3",
                f"parameters (algorithm {alg}, {its} iterations, salt {nsalt.hex() or '-'}) "
                f"differ from the NSEC3PARAM (1, {iterations}, {salt.hex() or '-'}) "
                "(RFC 5155 7.1)",
            )
        if flags & OPT_OUT:
            yield Finding(where, "NSEC3", "opt-out flag set; the DPS (6.2) forbids opt-out")
        if flags & ~OPT_OUT:
            yield Finding(where, "NSEC3", f"unknown flags {flags:#x} (RFC 5155 3.1.2)")
        digest = _label_hash(label)
        present.append((digest, owner, next_hash))
        want = expected.get(digest)
        if want is None:
            glue = hidden.get(digest)
            if glue is not None:
                yield Finding(
                    where,
                    "NSEC3",
                    f"NSEC3 for {names.to_text(glue)}, which is glue or occluded below a "
                    "delegation (RFC 5155 7.1)",
                )
            else:
                yield Finding(where, "NSEC3", "NSEC3 that matches no name of the zone")
            continue
        name, types = want
        good = bitmap_cache.get(types)
        if good is None:
            good = rdata.type_bitmap(types)
            bitmap_cache[types] = good
        if bitmap != good:
            try:
                listed = set(rdata.bitmap_types(bitmap))
            except IndexError:
                listed = set()
            yield Finding(
                where,
                "NSEC3",
                f"type bitmap for {names.to_text(name)} lists {_types(listed)}; "
                f"the name has {_types(set(types))}",
            )

    seen = {digest for digest, _, _ in present}
    for digest, want in expected.items():
        if digest not in seen:
            yield Finding(
                names.to_text(want[0]),
                "NSEC3",
                f"no NSEC3 for this name (expected at {b32hex(digest)}.{apex})",
            )

    # The chain: sorted by hash, each pointing to the next, the last to the first.
    present.sort()
    count = len(present)
    for i, (_digest, owner, next_hash) in enumerate(present):
        successor = present[(i + 1) % count][0]
        if next_hash != successor:
            yield Finding(
                names.to_text(owner),
                "NSEC3",
                f"next hashed owner {b32hex(next_hash) or '-'}, but the next in the chain "
                f"is {b32hex(successor)}: the chain is broken or out of order (RFC 5155 7.1)",
            )


def _types(types: set[int]) -> str:
    return " ".join(type_text(t) for t in sorted(types)) or "no types"
