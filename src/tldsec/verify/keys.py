"""The apex DNSKEY RRset as the verifier uses it: key tags, flags, public keys.

Key tags (RFC 4034 Appendix B), RSA public keys (RFC 3110 2) and ECDSA P-256 public
keys (RFC 6605 4) are computed here from the DNSKEY RDATA, not taken from the key store:
the verifier trusts only the zone and the trust anchor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ZONE_FLAG = 0x0100  # RFC 4034 2.1.1
SEP_FLAG = 0x0001  # RFC 4034 2.1.1
REVOKE_FLAG = 0x0080  # RFC 5011 3
# DNSSEC algorithm -> hash for RSASSA-PKCS1-v1_5 (RFC 5702 3: 8 SHA-256, 10 SHA-512).
RSA_HASHES: dict[int, type[hashes.SHA256] | type[hashes.SHA512]] = {
    8: hashes.SHA256,
    10: hashes.SHA512,
}
PKCS1 = padding.PKCS1v15()
ECDSAP256SHA256 = 13  # RFC 6605
P256_OCTETS = 32  # RFC 6605 4: x, y, r and s are 32 octets each
ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
VERIFIED_ALGORITHMS = frozenset({*RSA_HASHES, ECDSAP256SHA256})
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
# verify(signature, data): returns if valid, raises InvalidSignature if not.
Verifier = Callable[[bytes, bytes], None]


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


def p256_public_key(key_field: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 public key in a DNSKEY Public Key field, x | y (RFC 6605 4); ValueError
    if it is not 64 octets or not a point on the curve."""
    if len(key_field) != 2 * P256_OCTETS:
        raise ValueError(f"ECDSA P-256 public key of {len(key_field)} octets, not 64")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + key_field)


def verifier(public: PublicKey, algorithm: int) -> Verifier:
    """How to check an RRSIG Signature field with this key: RSASSA-PKCS1-v1_5 with the
    algorithm's hash (RFC 5702 3), or ECDSA over r | s (RFC 6605 4) as DER."""
    if isinstance(public, ec.EllipticCurvePublicKey):
        ec_verify = public.verify

        def verify_ecdsa(signature: bytes, data: bytes) -> None:
            if len(signature) != 2 * P256_OCTETS:
                raise InvalidSignature
            r = int.from_bytes(signature[:P256_OCTETS], "big")
            s = int.from_bytes(signature[P256_OCTETS:], "big")
            ec_verify(encode_dss_signature(r, s), data, ECDSA_SHA256)

        return verify_ecdsa
    rsa_verify, digest = public.verify, RSA_HASHES[algorithm]()

    def verify_rsa(signature: bytes, data: bytes) -> None:
        rsa_verify(signature, data, PKCS1, digest)

    return verify_rsa


@dataclass(frozen=True, slots=True)
class DnsKey:
    """One DNSKEY of the apex: its fields, tag, and (if usable) its public key."""

    rdata: bytes
    flags: int
    protocol: int
    algorithm: int
    tag: int
    bits: int
    public: PublicKey | None = field(compare=False)
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
        """True if ``signature`` is this key's signature of ``data`` (RFC 5702, 6605)."""
        if self.public is None:
            return False
        try:
            verifier(self.public, self.algorithm)(signature, data)
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
    public: PublicKey | None = None
    bits = 0
    if protocol != 3:
        problem = f"protocol {protocol} is not 3 (RFC 4034 2.1.2)"
    elif algorithm not in VERIFIED_ALGORITHMS:
        problem = f"algorithm {algorithm} is not one tldsec signs with (8, 10, 13)"
    elif algorithm == ECDSAP256SHA256:
        try:
            ec_public = p256_public_key(rdata[4:])
            public, bits = ec_public, ec_public.curve.key_size
        except ValueError as exc:
            problem = f"unusable ECDSA P-256 public key: {exc}"
    else:
        try:
            rsa_public = rsa_public_key(rdata[4:])
            public, bits = rsa_public, rsa_public.key_size
        except ValueError as exc:
            problem = f"unusable RSA public key: {exc}"
    return DnsKey(rdata, flags, protocol, algorithm, tag, bits, public, problem)


@dataclass(frozen=True, slots=True)
class KeySet:
    """The apex DNSKEYs, found by (algorithm, key tag) as RRSIGs name them."""

    keys: tuple[DnsKey, ...]
    by_tag: dict[tuple[int, int], tuple[DnsKey, ...]]

    # (algorithm, tag) -> how each key that can verify checks a signature: the hot path.
    verifiers: dict[tuple[int, int], tuple[Verifier, ...]]

    @classmethod
    def from_rdatas(cls, rdatas: list[bytes], unpublished: Iterable[bytes] = ()) -> KeySet:
        """The apex DNSKEYs; ``unpublished``: keys that sign without a DNSKEY in the zone
        (an algorithm rollover, RFC 6781 4.1.4), named by the key manager's signing
        configuration. They verify RRSIGs but are not among ``keys``: the DNSKEY RRset's
        own checks (algorithms, chain, DPS numbers) see the zone's keys alone."""
        keys = tuple(parse_dnskey(rd) for rd in rdatas)
        extra = tuple(parse_dnskey(rd) for rd in unpublished if rd not in rdatas)
        by_tag: dict[tuple[int, int], list[DnsKey]] = {}
        for k in (*keys, *extra):
            by_tag.setdefault((k.algorithm, k.tag), []).append(k)
        verifiers: dict[tuple[int, int], tuple[Verifier, ...]] = {
            t: tuple(
                verifier(k.public, k.algorithm)
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
