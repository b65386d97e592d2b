"""The apex DNSKEY RRset as the verifier uses it: key tags, flags, public keys.

Key tags (RFC 4034 Appendix B) and RSA public keys (RFC 3110 2) are computed here from
the DNSKEY RDATA, not taken from the key store: the verifier trusts only the zone and
the trust anchor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ZONE_FLAG = 0x0100  # RFC 4034 2.1.1
SEP_FLAG = 0x0001  # RFC 4034 2.1.1
REVOKE_FLAG = 0x0080  # RFC 5011 3
# DNSSEC algorithm -> hash for RSASSA-PKCS1-v1_5 (RFC 5702 3: 8 SHA-256, 10 SHA-512).
RSA_HASHES: dict[int, type[hashes.SHA256] | type[hashes.SHA512]] = {
    8: hashes.SHA256,
    10: hashes.SHA512,
}
PKCS1 = padding.PKCS1v15()


def key_tag(dnskey_rdata: bytes) -> int:
    """RFC 4034 Appendix B: the 16-bit checksum of the DNSKEY RDATA."""
    acc = 0
    for i, octet in enumerate(dnskey_rdata):
        acc += octet if i & 1 else octet << 8
    acc += (acc >> 16) & 0xFFFF
    return acc & 0xFFFF


def rsa_public_key(key_field: bytes) -> rsa.RSAPublicKey:
    """The RSA public key in a DNSKEY Public Key field (RFC 3110 2); ValueError if bad."""
    if len(key_field) < 3:
        raise ValueError("RSA public key field too short")
    exp_len = key_field[0]
    offset = 1
    if exp_len == 0:
        exp_len = int.from_bytes(key_field[1:3], "big")
        offset = 3
    exponent = int.from_bytes(key_field[offset : offset + exp_len], "big")
    modulus = int.from_bytes(key_field[offset + exp_len :], "big")
    if exponent < 3 or modulus.bit_length() < 512:
        raise ValueError("RSA exponent or modulus out of range")
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


@dataclass(frozen=True, slots=True)
class DnsKey:
    """One DNSKEY of the apex: its fields, tag, and (if usable) its public key."""

    rdata: bytes
    flags: int
    protocol: int
    algorithm: int
    tag: int
    bits: int
    public: rsa.RSAPublicKey | None = field(compare=False)
    problem: str | None = None  # why the key cannot verify anything

    @property
    def is_zone_key(self) -> bool:
        return bool(self.flags & ZONE_FLAG)

    @property
    def is_sep(self) -> bool:
        return bool(self.flags & SEP_FLAG)

    @property
    def is_revoked(self) -> bool:
        return bool(self.flags & REVOKE_FLAG)

    @property
    def role(self) -> str:
        return "KSK" if self.is_sep else "ZSK"

    def describe(self) -> str:
        return f"{self.role} {self.tag} (algorithm {self.algorithm}, {self.bits} bits)"

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True if ``signature`` is this key's RSASSA-PKCS1-v1_5 signature of ``data``."""
        if self.public is None:
            return False
        try:
            self.public.verify(signature, data, PKCS1, RSA_HASHES[self.algorithm]())
        except InvalidSignature:
            return False
        return True


def parse_dnskey(rdata: bytes) -> DnsKey:
    """A ``DnsKey`` from DNSKEY RDATA; an unusable key carries ``problem``."""
    if len(rdata) < 4:
        return DnsKey(rdata, 0, 0, 0, 0, 0, None, "DNSKEY RDATA shorter than 4 octets")
    flags = int.from_bytes(rdata[:2], "big")
    protocol, algorithm = rdata[2], rdata[3]
    tag = key_tag(rdata)
    problem = None
    public = None
    bits = 0
    if protocol != 3:
        problem = f"protocol {protocol} is not 3 (RFC 4034 2.1.2)"
    elif algorithm not in RSA_HASHES:
        problem = f"algorithm {algorithm} is not one the DPS (6.1) signs with"
    else:
        try:
            public = rsa_public_key(rdata[4:])
            bits = public.key_size
        except ValueError as exc:
            problem = f"unusable RSA public key: {exc}"
    return DnsKey(rdata, flags, protocol, algorithm, tag, bits, public, problem)


@dataclass(frozen=True, slots=True)
class KeySet:
    """The apex DNSKEYs, found by (algorithm, key tag) as RRSIGs name them."""

    keys: tuple[DnsKey, ...]
    by_tag: dict[tuple[int, int], tuple[DnsKey, ...]]

    # (algorithm, tag) -> (public key, hash) of each key that can verify: the hot path.
    verifiers: dict[tuple[int, int], tuple[tuple[rsa.RSAPublicKey, hashes.HashAlgorithm], ...]]

    @classmethod
    def from_rdatas(cls, rdatas: list[bytes]) -> KeySet:
        keys = tuple(parse_dnskey(rd) for rd in rdatas)
        by_tag: dict[tuple[int, int], list[DnsKey]] = {}
        for k in keys:
            by_tag.setdefault((k.algorithm, k.tag), []).append(k)
        verifiers: dict[
            tuple[int, int], tuple[tuple[rsa.RSAPublicKey, hashes.HashAlgorithm], ...]
        ] = {
            t: tuple(
                (k.public, RSA_HASHES[k.algorithm]())
                for k in v
                if k.public is not None and k.is_zone_key and not k.is_revoked
            )
            for t, v in by_tag.items()
        }
        return cls(keys, {t: tuple(v) for t, v in by_tag.items()}, verifiers)

    def find(self, algorithm: int, tag: int) -> tuple[DnsKey, ...]:
        return self.by_tag.get((algorithm, tag), ())

    @property
    def algorithms(self) -> frozenset[int]:
        return frozenset(k.algorithm for k in self.keys if k.is_zone_key and not k.is_revoked)
