"""Signature reuse (DPS 6.5): keep an RRSIG or sign again.

An RRSIG from the previous signed zone is kept when the RRset it covers is byte-for-byte
the same (owner, type, TTL, RDATA), its key still has that duty, and it stays valid for
longer than the refresh threshold. Everything else is signed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tldsec.dnscore.zone import RRset
from tldsec.signer.rrsig import RrsigFields


@dataclass(frozen=True, slots=True)
class SignerKey:
    """A key as reuse sees it: algorithm and key tag."""

    algorithm: int
    key_tag: int


def reusable_signatures(
    rrset: RRset,
    previous: RRset | None,
    keys: tuple[SignerKey, ...],
    signer: bytes,
    now: int,
    refresh: int,
) -> dict[SignerKey, bytes]:
    """The previous RRSIGs of ``rrset`` that may stay, by the key that made them."""
    if previous is None or not previous.sigs:
        return {}
    if previous.ttl != rrset.ttl or previous.rdatas != rrset.rdatas:
        return {}
    kept: dict[SignerKey, bytes] = {}
    for sig in previous.sigs:
        f = RrsigFields.parse(sig)
        key = SignerKey(f.algorithm, f.key_tag)
        if (
            key in keys
            and key not in kept
            and f.signer == signer
            and f.original_ttl == rrset.ttl
            and f.type_covered == rrset.rtype
            and _serial_le(f.inception, now)
            and _serial_lt(now + refresh, f.expiration)
        ):
            kept[key] = sig
    return kept


class PreviousSignatures(Protocol):
    """Where the last run's signed RRsets are found: a Zone, or a SignatureCache."""

    def get(self, owner: bytes, rtype: int) -> RRset | None: ...


def previous_rrset(previous: PreviousSignatures | None, rrset: RRset) -> RRset | None:
    return None if previous is None else previous.get(rrset.owner, rrset.rtype)


# RRSIG times are serial numbers (RFC 4034 3.1.5, RFC 1982).
def _serial_lt(a: int, b: int) -> bool:
    a &= 0xFFFFFFFF
    b &= 0xFFFFFFFF
    return a != b and ((b - a) & 0xFFFFFFFF) < 0x80000000


def _serial_le(a: int, b: int) -> bool:
    return (a & 0xFFFFFFFF) == (b & 0xFFFFFFFF) or _serial_lt(a, b)
