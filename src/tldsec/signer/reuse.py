"""Signature reuse (DPS 6.5): keep an RRSIG or sign again.

An RRSIG from the previous signed zone is kept when the RRset it covers is byte-for-byte
the same (owner, type, TTL, RDATA), its key still has that duty, and it stays valid for
longer than the refresh threshold. Everything else is signed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tldsec.dnscore.zone import RRset, Zone
from tldsec.signer.rrsig import RrsigFields


@dataclass(frozen=True, slots=True)
class SignerKey:
    """A key as reuse sees it: algorithm and key tag."""

    algorithm: int
    key_tag: int


def reusable_signatures(
    rrset: RRset,
    previous: tuple[bytes, ...],
    keys: tuple[SignerKey, ...],
    signer: bytes,
    now: int,
    refresh: int,
) -> dict[SignerKey, bytes]:
    """Of ``previous`` (the RRSIGs over a byte-identical RRset), those that may stay, by
    the key that made them."""
    kept: dict[SignerKey, bytes] = {}
    for sig in previous:
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
    """Where the last run's RRSIGs are found (a signed zone: ``ZoneSignatures``)."""

    def signatures_for(self, rrset: RRset) -> tuple[bytes, ...]:
        """The previous RRSIGs over this RRset if it is byte-identical to the previous
        one (owner, type, TTL, RDATA), else none. Each RRset is asked for once."""
        ...


class ZoneSignatures:
    """``PreviousSignatures`` read from a signed zone (e.g. parsed from its file)."""

    def __init__(self, zone: Zone) -> None:
        self._zone = zone

    def signatures_for(self, rrset: RRset) -> tuple[bytes, ...]:
        previous = self._zone.get(rrset.owner, rrset.rtype)
        if previous is None or previous.ttl != rrset.ttl or previous.rdatas != rrset.rdatas:
            return ()
        return previous.sigs


# RRSIG times are serial numbers (RFC 4034 3.1.5, RFC 1982).
def _serial_lt(a: int, b: int) -> bool:
    a &= 0xFFFFFFFF
    b &= 0xFFFFFFFF
    return a != b and ((b - a) & 0xFFFFFFFF) < 0x80000000


def _serial_le(a: int, b: int) -> bool:
    return (a & 0xFFFFFFFF) == (b & 0xFFFFFFFF) or _serial_lt(a, b)
