"""Check "nsec3": the NSEC3 chain the zone must have, computed independently (RFC 5155).

Expected: one NSEC3PARAM at the apex with the policy's parameters (SHA-1, flags 0; DPS
6.2, RFC 9276); exactly one NSEC3 per authoritative name, delegation and empty
non-terminal (RFC 5155 7.1) and none for glue or occluded names; every NSEC3 with the
NSEC3PARAM's parameters, opt-out clear (DPS 6.2: no opt-out); the chain sorted by hash
and closed (the last points to the first); each type bitmap exactly the types at its
name (RFC 5155 3.2.1, RFC 4035 2.3 at delegations).

The work splits in three so that parts of a big zone can be checked apart: ``param_check``
(the apex), ``nsec3_part`` (one part of the zone: the names it holds, hashed, and the
NSEC3 records it holds, each checked on its own) and ``nsec3_reduce`` (everything that
needs the whole zone: which NSEC3 belongs to which name, and the chain's order).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tldsec.dnscore import names, rdata
from tldsec.dnscore.types import RRType, type_text
from tldsec.dnscore.zone import RRset, Zone
from tldsec.policy import DenialPolicy
from tldsec.verify.report import Finding
from tldsec.verify.structure import Structure, expected_bitmap_types
from tldsec.verify.summary import Nsec3Part

NAME = "nsec3"
SHA1 = 1  # RFC 5155 11
OPT_OUT = 0x01  # RFC 5155 3.1.2.1
_HEAD = struct.Struct("!BBHB")
_BASE32HEX_LOWER = frozenset(b"0123456789abcdefghijklmnopqrstuv")
NSEC3 = int(RRType.NSEC3)


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


@dataclass(frozen=True, slots=True)
class Nsec3Params:
    """The hash parameters every NSEC3 must use: the NSEC3PARAM's (RFC 5155 4)."""

    salt: bytes
    iterations: int


def param_check(
    origin: bytes, param: RRset | None, denial: DenialPolicy | None
) -> tuple[list[Finding], Nsec3Params | None]:
    """NSEC3PARAM (RFC 5155 4): one, at the apex, SHA-1, flags 0, the policy's values.

    Returns the findings and the parameters the chain is checked with (the NSEC3PARAM's,
    else the policy's, else none: nothing more can be checked).
    """
    apex = names.to_text(origin)
    out: list[Finding] = []
    if param is None or not param.rdatas:
        out.append(Finding(apex, "NSEC3PARAM", "the apex has no NSEC3PARAM"))
        if denial is None:
            return out, None
        return out, Nsec3Params(denial.nsec3_salt, denial.nsec3_iterations)
    if len(param.rdatas) > 1:
        out.append(Finding(apex, "NSEC3PARAM", f"{len(param.rdatas)} NSEC3PARAM records, not one"))
    p = param.rdatas[0]
    try:
        alg, flags, iterations, salt_len = _HEAD.unpack_from(p)
    except struct.error:
        out.append(Finding(apex, "NSEC3PARAM", "malformed NSEC3PARAM RDATA"))
        return out, None
    salt = p[5 : 5 + salt_len]
    if alg != SHA1:
        out.append(
            Finding(
                apex, "NSEC3PARAM", f"hash algorithm {alg}, not 1 (SHA-1; RFC 5155 11, DPS 6.2)"
            )
        )
    if flags:
        out.append(
            Finding(
                apex, "NSEC3PARAM", f"flags {flags}, not 0 (RFC 5155 4.1.2; DPS 6.2: no opt-out)"
            )
        )
    if denial is not None:
        if iterations != denial.nsec3_iterations:
            out.append(
                Finding(
                    apex,
                    "NSEC3PARAM",
                    f"{iterations} iterations; the policy has {denial.nsec3_iterations} "
                    "(DPS 6.2, RFC 9276)",
                )
            )
        if salt != denial.nsec3_salt:
            out.append(
                Finding(
                    apex,
                    "NSEC3PARAM",
                    f"salt {salt.hex() or '-'}; the policy has "
                    f"{denial.nsec3_salt.hex() or '-'} (DPS 6.2, RFC 9276)",
                )
            )
    return out, Nsec3Params(salt, iterations)


def nsec3_part(zone: Zone, structure: Structure, params: Nsec3Params) -> Nsec3Part:
    """Hash the names of this part of the zone and check each NSEC3 record it holds."""
    part = Nsec3Part()
    salt, iterations = params.salt, params.iterations
    nodes = zone.nodes
    bitmaps: dict[frozenset[int], bytes] = {}
    expected = part.expected
    for kind, group in (
        ("authoritative", structure.authoritative),
        ("delegation", structure.delegations),
        ("ent", structure.empty_non_terminals),
    ):
        for name in group:
            types = expected_bitmap_types(kind, nodes.get(name))
            bitmap = bitmaps.get(types)
            if bitmap is None:
                bitmap = bitmaps[types] = rdata.type_bitmap(types)
            expected.append((nsec3_hash(name, salt, iterations), name, bitmap))
    part.hidden = [(nsec3_hash(n, salt, iterations), n) for n in structure.occluded]

    found = part.findings
    present = part.present
    origin = zone.origin
    suffix_len = len(origin)
    colliding = set(structure.nsec3_with_data)
    for owner in structure.nsec3_owners:
        node = nodes[owner]
        rrset = node[0] if node[0].rtype == NSEC3 else next(r for r in node if r.rtype == NSEC3)
        if colliding and owner in colliding:
            found.add(_f(owner, "an NSEC3 owner is also a name with other data"))
        if owner[0] + 1 + suffix_len != len(owner) or not owner.endswith(origin):
            found.add(_f(owner, "an NSEC3 owner must be one label below the apex"))
            continue
        label = owner[1 : 1 + owner[0]]
        if len(label) != 32 or not _BASE32HEX_LOWER.issuperset(label):
            found.add(_f(owner, "the owner label is not a base32hex SHA-1 hash"))
            continue
        if len(rrset.rdatas) != 1:
            found.add(_f(owner, f"{len(rrset.rdatas)} NSEC3 records at one owner"))
        rd = rrset.rdatas[0]
        try:
            alg, flags, its, slen = _HEAD.unpack_from(rd)
            hlen = rd[5 + slen]
            next_hash = rd[6 + slen : 6 + slen + hlen]
            if len(next_hash) != hlen:
                raise ValueError("truncated")
        except (struct.error, IndexError, ValueError):
            found.add(_f(owner, "malformed NSEC3 RDATA"))
            continue
        if alg != SHA1 or its != iterations or rd[5 : 5 + slen] != salt:
            found.add(
                _f(
                    owner,
                    f"parameters (algorithm {alg}, {its} iterations, salt "
                    f"{rd[5 : 5 + slen].hex() or '-'}) differ from the NSEC3PARAM (1, "
                    f"{iterations}, {salt.hex() or '-'}) (RFC 5155 7.1, DPS 6.2)",
                )
            )
        if flags & OPT_OUT:
            found.add(_f(owner, "opt-out flag set; DPS 6.2 requires NSEC3 without opt-out"))
        if flags & ~OPT_OUT:
            found.add(_f(owner, f"unknown flags {flags:#x} (RFC 5155 3.1.2)"))
        # base32hex digits are Python's base-32 digits: 32 of them, the 20 octets of SHA-1.
        digest = int(label, 32).to_bytes(20, "big")
        present.append((digest, owner, next_hash, rd[6 + slen + hlen :]))
    return part


def nsec3_reduce(parts: Iterable[Nsec3Part], origin: bytes) -> Iterator[Finding]:
    """What needs the whole zone: each NSEC3 matched to its name, and the chain."""
    expected: dict[bytes, tuple[bytes, bytes]] = {}
    hidden: dict[bytes, bytes] = {}
    present: list[tuple[bytes, bytes, bytes, bytes]] = []
    for part in parts:
        for digest, name, bitmap in part.expected:
            other = expected.get(digest)
            if other is not None:
                yield Finding(
                    names.to_text(name),
                    "NSEC3",
                    f"hash collides with {names.to_text(other[0])} (RFC 5155 7.1)",
                )
            expected[digest] = (name, bitmap)
        hidden.update(part.hidden)
        present.extend(part.present)
    apex = names.to_text(origin)
    seen: set[bytes] = set()
    for digest, owner, _next, bitmap in present:
        seen.add(digest)
        want = expected.get(digest)
        if want is None:
            glue = hidden.get(digest)
            if glue is not None:
                yield _f(
                    owner,
                    f"NSEC3 for {names.to_text(glue)}, which is glue or occluded below a "
                    "delegation (RFC 5155 7.1)",
                )
            else:
                yield _f(owner, "NSEC3 that matches no name of the zone")
        elif bitmap != want[1]:
            yield _f(
                owner,
                f"type bitmap for {names.to_text(want[0])} lists {_types(bitmap)}; "
                f"the name has {_types(want[1])}",
            )
    for digest, (name, _bitmap) in expected.items():
        if digest not in seen:
            yield Finding(
                names.to_text(name),
                "NSEC3",
                f"no NSEC3 for this name (expected at {b32hex(digest)}.{apex})",
            )
    # The chain: sorted by hash, each pointing to the next, the last to the first.
    present.sort()
    count = len(present)
    for i, (_digest, owner, next_hash, _bitmap) in enumerate(present):
        successor = present[(i + 1) % count][0]
        if next_hash != successor:
            yield _f(
                owner,
                f"next hashed owner {b32hex(next_hash) or '-'}, but the next in the chain "
                f"is {b32hex(successor)}: the chain is broken or out of order (RFC 5155 7.1)",
            )


def _f(owner: bytes, reason: str) -> Finding:
    return Finding(names.to_text(owner), "NSEC3", reason)


def _types(bitmap: bytes) -> str:
    try:
        types = rdata.bitmap_types(bitmap)
    except IndexError:
        return "a malformed type bitmap"
    return " ".join(type_text(t) for t in sorted(types)) or "no types"
