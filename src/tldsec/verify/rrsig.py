"""One RRSIG checked against its RRset: fields, validity window, and the signature itself.

The signed data is rebuilt here from RFC 4034 3.1.8.1 (RRSIG RDATA without the
signature, then each RR of the RRset in canonical form and order, with the RRSIG's
Original TTL and, for a wildcard expansion, the owner cut to the RRSIG's label count);
RFC 4035 5.3.1 lists what must hold for an RRSIG to be accepted. Everything is plain
bytes and ints so that a forked worker can check millions of signatures quickly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tldsec.dnscore.zone import RRset
from tldsec.verify.dpsrules import DpsRules, span
from tldsec.verify.keys import KeySet
from tldsec.verify.report import iso

RRSIG_FIXED = struct.Struct("!HBBIIIH")  # RFC 4034 3.1: covered .. key tag (18 octets)
_RR_FIXED = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH
CLASS_IN = 1
SERIAL_HALF = 0x80000000


@dataclass(frozen=True, slots=True)
class RrsigFields:
    """The fields of an RRSIG RDATA (RFC 4034 3.1)."""

    type_covered: int
    algorithm: int
    labels: int
    original_ttl: int
    expiration: int
    inception: int
    key_tag: int
    signer: bytes
    signature: bytes
    unsigned_rdata: bytes  # RDATA up to the signature: the head of the signed data


def parse_rrsig(rdata: bytes) -> RrsigFields:
    """Split RRSIG RDATA into its fields; ValueError if it is malformed."""
    if len(rdata) < RRSIG_FIXED.size + 1:
        raise ValueError("RRSIG RDATA too short")
    covered, alg, labels, ttl, exp, inc, tag = RRSIG_FIXED.unpack_from(rdata)
    i = RRSIG_FIXED.size
    while True:
        if i >= len(rdata):
            raise ValueError("RRSIG signer name runs past the RDATA")
        n = rdata[i]
        if n == 0:
            break
        if n > 63:
            raise ValueError("compressed or invalid label in the RRSIG signer name")
        i += 1 + n
    end = i + 1
    return RrsigFields(
        covered, alg, labels, ttl, exp, inc, tag, rdata[18:end], rdata[end:], rdata[:end]
    )


def owner_labels(owner: bytes) -> int:
    """Labels in a wire name, not counting the root or a leading "*" (RFC 4034 3.1.3)."""
    count = 0
    i = 0
    while owner[i]:
        count += 1
        i += 1 + owner[i]
    if owner[:2] == b"\x01*":
        count -= 1
    return count


def signed_owner(owner: bytes, labels: int) -> bytes:
    """The owner as it enters the signed data: for an RRSIG with fewer labels than the
    owner (a wildcard expansion), "*." and the rightmost ``labels`` labels (RFC 4035
    5.3.2)."""
    parts: list[bytes] = []
    i = 0
    while owner[i]:
        parts.append(owner[i : i + 1 + owner[i]])
        i += 1 + owner[i]
    if labels >= len(parts):
        return owner
    return b"\x01*" + b"".join(parts[len(parts) - labels :]) + b"\x00"


def signed_data(fields: RrsigFields, rrset: RRset) -> bytes:
    """RFC 4034 3.1.8.1: RRSIG_RDATA | RR(1) | RR(2) ..., RRs canonical and sorted."""
    owner = rrset.owner
    if fields.labels < owner_labels(owner):
        owner = signed_owner(owner, fields.labels)
    head = owner + struct.pack("!HHI", rrset.rtype, CLASS_IN, fields.original_ttl)
    # RFC 4034 6.3: RRs sorted by their canonical RDATA as left-justified octet strings.
    rdatas = rrset.rdatas if _is_sorted(rrset.rdatas) else sorted(rrset.rdatas)
    return fields.unsigned_rdata + b"".join(head + len(rd).to_bytes(2, "big") + rd for rd in rdatas)


def _is_sorted(items: list[bytes]) -> bool:
    return all(items[i] < items[i + 1] for i in range(len(items) - 1))


def serial_lt(a: int, b: int) -> bool:
    """a < b in RFC 1982 serial arithmetic on 32 bits (RFC 4034 3.1.5)."""
    a &= 0xFFFFFFFF
    b &= 0xFFFFFFFF
    return a != b and ((b - a) & 0xFFFFFFFF) < SERIAL_HALF


@dataclass(frozen=True, slots=True)
class SignatureContext:
    """What every RRSIG of one zone is checked against."""

    origin: bytes
    keys: KeySet
    now: int  # seconds since the epoch
    horizon: int  # no signature may expire before this (next cycle + safety margin)
    # The DPS numbers every RRSIG must show (algorithm, validity, inception); None: only
    # RFC 4035's rules (the chain of trust checks "valid now" alone).
    rules: DpsRules | None = None

    def limits(self) -> tuple[frozenset[int] | None, int, int, int]:
        """(algorithms or None for any, shortest and longest validity, latest inception)
        for the fast path; without rules, anything RFC 4035 accepts."""
        r = self.rules
        if r is None:
            return None, 0, 0xFFFFFFFF, self.now
        return r.algorithms, r.validity_min, r.validity_max, self.now - r.skew


def check_rrsig(rrset: RRset, rdata: bytes, ctx: SignatureContext) -> list[str]:
    """Every problem with one RRSIG over ``rrset``; empty if it is valid (RFC 4035 5.3.1)."""
    try:
        f = parse_rrsig(rdata)
    except ValueError as exc:
        return [f"malformed RRSIG: {exc}"]
    problems: list[str] = []
    if f.type_covered != rrset.rtype:
        problems.append(f"covers type {f.type_covered}, not {rrset.rtype}")
    if f.signer != ctx.origin:
        problems.append("signer name is not the zone apex (RFC 4035 5.3.1)")
    count = owner_labels(rrset.owner)
    if f.labels != count:
        problems.append(f"labels field {f.labels}, the owner has {count} (RFC 4034 3.1.3)")
    if f.original_ttl != rrset.ttl:
        problems.append(
            f"original TTL {f.original_ttl} differs from the RRset TTL {rrset.ttl} (RFC 4034 3.1.4)"
        )
    now = ctx.now
    rules = ctx.rules
    if rules is not None:
        problems.extend(dps_problems(f, rules, now))
    if serial_lt(now, f.inception):
        problems.append(
            f"not yet valid: inception {iso(f.inception)} is after now (RFC 4035 5.3.1, DPS 6.5)"
        )
    if not serial_lt(now, f.expiration):
        problems.append(f"expired at {iso(f.expiration)}")
    elif serial_lt(f.expiration, ctx.horizon):
        problems.append(
            f"expires at {iso(f.expiration)}, before the horizon {iso(ctx.horizon)} "
            "(next cycle plus the safety margin: DPS 6.5, re-signed before it is needed)"
        )
    if serial_lt(f.expiration, f.inception):
        problems.append("expiration precedes inception")
    candidates = ctx.keys.find(f.algorithm, f.key_tag)
    if not candidates:
        problems.append(
            f"made by key tag {f.key_tag} algorithm {f.algorithm}, which is not in the "
            "apex DNSKEY RRset"
        )
        return problems
    usable = [k for k in candidates if k.problem is None and k.is_zone_key and not k.is_revoked]
    if not usable:
        k = candidates[0]
        problems.append(f"key {k.tag} cannot sign: {k.problem or 'not a zone key or revoked'}")
        return problems
    data = signed_data(f, rrset)
    if not any(k.verify(f.signature, data) for k in usable):
        problems.append(f"signature does not verify with DNSKEY {usable[0].describe()}")
    return problems


def dps_problems(f: RrsigFields, rules: DpsRules, now: int) -> list[str]:
    """What breaks the DPS numbers in one RRSIG: its algorithm (DPS 6.3), its validity
    period (DPS 6.5) and an inception too close to now for resolvers' clock skew."""
    out: list[str] = []
    if f.algorithm not in rules.algorithms:
        allowed = " or ".join(str(a) for a in sorted(rules.algorithms))
        out.append(f"algorithm {f.algorithm}; {rules.cite('6.3')} requires {allowed}")
    length = (f.expiration - f.inception) & 0xFFFFFFFF
    if length < SERIAL_HALF and not rules.validity_min <= length <= rules.validity_max:
        out.append(
            f"validity {span(length)} ({iso(f.inception)} to {iso(f.expiration)}); "
            f"{rules.cite('6.5')} requires {span(rules.validity_min)} to "
            f"{span(rules.validity_max)}"
        )
    latest = now - rules.skew
    if serial_lt(latest, f.inception) and not serial_lt(now, f.inception):
        out.append(
            f"inception {iso(f.inception)} is less than {span(rules.skew)} before now: "
            "resolvers whose clocks are that far behind reject it (the policy's inception "
            f"offset allows for that clock skew, {rules.cite('6.5')})"
        )
    return out
