"""The DNSSEC algorithms tldsec signs with, by key family: RSA (8, 10) or ECDSA P-256 (13).

One place answers what depends on the algorithm and not on the store: whether a key
request is one tldsec makes (``check_key_request``), the DNSKEY Public Key field of a
``cryptography`` key, and whether a signature verifies under such a field. RSA details
are ``hsm/rsakey.py`` (RFC 3110, RFC 5702), ECDSA ones ``hsm/eckey.py`` (RFC 6605).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tldsec.errors import KeyStoreError
from tldsec.hsm import eckey, rsakey
from tldsec.policy import Algorithm

ECDSA_ALGORITHMS = frozenset({Algorithm.ECDSAP256SHA256})
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def is_ecdsa(algorithm: int) -> bool:
    return algorithm in ECDSA_ALGORITHMS


def check_key_request(algorithm: int, bits: int) -> Algorithm:
    """The algorithm as an ``Algorithm``; ``KeyStoreError`` unless tldsec makes such keys
    (RSA: ``rsakey.check_key_request``; ECDSAP256SHA256: 256 bits, the curve's size)."""
    try:
        alg = Algorithm(algorithm)
    except ValueError:
        supported = ", ".join(str(int(a)) for a in Algorithm)
        raise KeyStoreError(
            f"algorithm {algorithm} is not one tldsec signs with ({supported})"
        ) from None
    if is_ecdsa(alg):
        if bits != eckey.P256_BITS:
            raise KeyStoreError(
                f"algorithm {int(alg)} keys are on P-256: {eckey.P256_BITS} bits, not {bits} "
                "(RFC 6605 2)"
            )
        return alg
    return rsakey.check_key_request(alg, bits)


def field_bits(field: bytes, algorithm: int) -> int:
    """The key size of a DNSKEY Public Key field (RSA modulus bits, or 256 for P-256)."""
    if is_ecdsa(algorithm):
        eckey.public_key_from_field(field)
        return eckey.P256_BITS
    return rsakey.parse_dnskey_public_key(field)[1].bit_length()


def check_stored_key(field: bytes, algorithm: int) -> Algorithm:
    """``check_key_request`` for a key known by its DNSKEY field (archives, restores)."""
    try:
        bits = field_bits(field, algorithm)
    except ValueError as exc:
        raise KeyStoreError(f"unusable algorithm {algorithm} public key: {exc}") from exc
    return check_key_request(algorithm, bits)


def key_bits(key: PrivateKey) -> int:
    return key.curve.key_size if isinstance(key, ec.EllipticCurvePrivateKey) else key.key_size


def dnskey_public_key_of(key: PrivateKey | PublicKey) -> bytes:
    """The DNSKEY Public Key field of a ``cryptography`` key of either family."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return eckey.dnskey_public_key_of(key)
    return rsakey.dnskey_public_key_of(key)


def verifies(field: bytes, algorithm: Algorithm, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (in RRSIG form) over ``data`` verifies under ``field``."""
    if is_ecdsa(algorithm):
        return eckey.verifies(field, data, signature)
    try:
        return rsakey.verifies(field, algorithm, data, signature)
    except ValueError:
        return False
