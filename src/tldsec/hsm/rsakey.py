"""RSA key material in DNS form: the DNSKEY public key field and the hash per algorithm.

Every key store returns public keys in the form RFC 3110 section 2 gives them, so the key
manager can build DNSKEY records and key tags without knowing where the private half is.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tldsec.errors import KeyStoreError
from tldsec.policy import RSA_MAX_BITS, Algorithm

# DNSSEC algorithm -> hash of RSASSA-PKCS1-v1_5 (RFC 5702 3: 8 is SHA-256, 10 is SHA-512).
RSA_HASHES: dict[Algorithm, type[hashes.SHA256] | type[hashes.SHA512]] = {
    Algorithm.RSASHA256: hashes.SHA256,
    Algorithm.RSASHA512: hashes.SHA512,
}
PUBLIC_EXPONENT = 65537  # DPS 6.1 / RFC 3110 4 recommends a small odd exponent, F4
# RFC 3110 2 / RFC 5702 2.1: RSA/SHA-256 keys are 512..4096 bits; RFC 5702 2.2 gives
# 1024..4096 for RSA/SHA-512.  The policy (DPS 6.1) asks for far more than the minimum;
# the maximum is the policy's, which refuses a larger key where it is written.
MIN_BITS = {Algorithm.RSASHA256: 512, Algorithm.RSASHA512: 1024}


def new_key_id() -> str:
    """A fresh key id: 16 random bytes in hex (the PKCS#11 CKA_ID of the key pair)."""
    return secrets.token_hex(16)


def check_key_request(algorithm: int, bits: int) -> Algorithm:
    """The algorithm as an ``Algorithm``; ``KeyStoreError`` unless tldsec makes such keys."""
    try:
        alg = Algorithm(algorithm)
    except ValueError:
        raise KeyStoreError(
            f"algorithm {algorithm} is not one tldsec signs with (8 or 10)"
        ) from None
    if alg not in MIN_BITS:
        raise KeyStoreError(f"algorithm {algorithm} is not an RSA algorithm (8 or 10)")
    if not MIN_BITS[alg] <= bits <= RSA_MAX_BITS or bits % 8:
        raise KeyStoreError(
            f"{bits}-bit keys are outside {MIN_BITS[alg]}..{RSA_MAX_BITS} bits "
            f"(multiples of 8) for algorithm {int(alg)} (RFC 3110 2, RFC 5702 2)"
        )
    return alg


def dnskey_public_key(exponent: int, modulus: int) -> bytes:
    """The DNSKEY Public Key field of an RSA key (RFC 3110 2).

    exponent length (1 octet, or 0 then 2 octets when longer than 255), exponent, modulus;
    both numbers big-endian without leading zero octets.
    """
    if exponent < 1 or modulus < 1:
        raise ValueError("RSA exponent and modulus must be positive")
    exp = exponent.to_bytes((exponent.bit_length() + 7) // 8, "big")
    header = bytes((len(exp),)) if len(exp) <= 255 else b"\x00" + len(exp).to_bytes(2, "big")
    return header + exp + modulus.to_bytes((modulus.bit_length() + 7) // 8, "big")


def parse_dnskey_public_key(field: bytes) -> tuple[int, int]:
    """(exponent, modulus) from a DNSKEY Public Key field (RFC 3110 2)."""
    if not field:
        raise ValueError("empty RSA public key field")
    length, rest = field[0], field[1:]
    if length == 0:
        if len(rest) < 2:
            raise ValueError("RSA public key field truncated in the exponent length")
        length, rest = int.from_bytes(rest[:2], "big"), rest[2:]
    if len(rest) <= length:
        raise ValueError("RSA public key field truncated in the exponent or modulus")
    return int.from_bytes(rest[:length], "big"), int.from_bytes(rest[length:], "big")


def public_key_from_field(field: bytes) -> rsa.RSAPublicKey:
    """A ``cryptography`` public key from a DNSKEY Public Key field."""
    exponent, modulus = parse_dnskey_public_key(field)
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


def verifies(field: bytes, algorithm: Algorithm, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is RSASSA-PKCS1-v1_5 over ``data`` by the DNSKEY public key
    ``field`` with the hash of ``algorithm`` (RFC 5702 3)."""
    try:
        public_key_from_field(field).verify(
            signature, data, padding.PKCS1v15(), RSA_HASHES[algorithm]()
        )
    except InvalidSignature:
        return False
    return True


def dnskey_public_key_of(key: rsa.RSAPublicKey | rsa.RSAPrivateKey) -> bytes:
    """The DNSKEY Public Key field of a ``cryptography`` RSA key."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    numbers = public.public_numbers()
    return dnskey_public_key(numbers.e, numbers.n)
