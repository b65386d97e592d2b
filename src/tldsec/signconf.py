"""The key manager -> signer contract: what to publish, what signs what, and how.

A ``SigningConfig`` is all the signer needs besides the unsigned zone and a key store.
The key manager derives it from key state and policy; tests build it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tldsec.policy import Algorithm, Policy

ZONE_KEY_FLAG = 0x0100  # RFC 4034 2.1.1
SEP_FLAG = 0x0001  # RFC 4034 2.1.1, RFC 3757


@dataclass(frozen=True, slots=True)
class ZoneKey:
    """One key as the zone uses it: its DNSKEY and its duties in this signing run."""

    key_id: str
    flags: int
    algorithm: Algorithm
    public_key: bytes
    publish: bool  # in the DNSKEY RRset
    sign_dnskey: bool  # its RRSIG covers the DNSKEY RRset (KSK duty)
    sign_zone: bool  # its RRSIG covers every other authoritative RRset (ZSK duty)
    # Signs without being in the DNSKEY RRset: an algorithm rollover's new key before its
    # DNSKEY appears, or an old one after its DNSKEY left (RFC 6781 4.1.4). Validators
    # ignore such RRSIGs (RFC 4035 5.3.1); the zone's other algorithm carries the chain.
    unpublished_signer: bool = False

    def __post_init__(self) -> None:
        signs = self.sign_dnskey or self.sign_zone
        if signs and not self.publish and not self.unpublished_signer:
            # RFC 4035 2.1: a signing key must be in the apex DNSKEY RRset.
            raise ValueError(f"key {self.key_id} signs but is not published")
        if self.unpublished_signer and self.publish:
            raise ValueError(f"key {self.key_id} is published, not an unpublished signer")
        if not self.flags & ZONE_KEY_FLAG:
            raise ValueError(f"key {self.key_id}: DNSKEY flags {self.flags} lack the Zone Key bit")

    @property
    def dnskey_rdata(self) -> bytes:
        """DNSKEY RDATA: flags, protocol 3, algorithm, public key (RFC 4034 2.1)."""
        return self.flags.to_bytes(2, "big") + bytes((3, int(self.algorithm))) + self.public_key


@dataclass(frozen=True, slots=True)
class SigningConfig:
    """Everything about one signing run except the zone data and the clock."""

    keys: tuple[ZoneKey, ...]
    nsec3_iterations: int
    nsec3_salt: bytes
    validity_min: timedelta
    validity_max: timedelta
    inception_offset: timedelta
    refresh: timedelta
    dnskey_ttl: int

    def __post_init__(self) -> None:
        if self.validity_max < self.validity_min:
            raise ValueError("validity_max is below validity_min")
        if not 0 <= self.nsec3_iterations <= 2500:
            raise ValueError(f"NSEC3 iterations {self.nsec3_iterations} out of range")

    @property
    def published(self) -> tuple[ZoneKey, ...]:
        return tuple(k for k in self.keys if k.publish)

    @property
    def dnskey_signers(self) -> tuple[ZoneKey, ...]:
        return tuple(k for k in self.keys if k.sign_dnskey)

    @property
    def zone_signers(self) -> tuple[ZoneKey, ...]:
        return tuple(k for k in self.keys if k.sign_zone)

    @classmethod
    def from_policy(cls, policy: Policy, keys: tuple[ZoneKey, ...]) -> SigningConfig:
        return cls(
            keys=keys,
            nsec3_iterations=policy.denial.nsec3_iterations,
            nsec3_salt=policy.denial.nsec3_salt,
            validity_min=policy.signatures.validity_min,
            validity_max=policy.signatures.validity_max,
            inception_offset=policy.signatures.inception_offset,
            refresh=policy.signatures.refresh,
            dnskey_ttl=policy.ttl.dnskey,
        )
