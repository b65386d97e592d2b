"""ECDSA P-256 key material in DNS form (RFC 6605): the DNSKEY public key and r||s.

RFC 6605 4: the DNSKEY Public Key field of algorithm 13 is the curve point's x and y,
32 octets each (the uncompressed point without its 0x04 prefix); RFC 6605 4: the RRSIG
Signature field is r and s, 32 octets each. ``cryptography`` speaks DER signatures and
X9.62 points; this module converts between the two forms and nothing more: the curve
arithmetic is ``cryptography``'s (points are checked to be on the curve there).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

P256_BITS = 256  # RFC 6605: the curve fixes the size; a policy states 256
COORDINATE_OCTETS = 32
PUBLIC_KEY_OCTETS = 2 * COORDINATE_OCTETS  # RFC 6605 4: x | y
SIGNATURE_OCTETS = 2 * COORDINATE_OCTETS  # RFC 6605 4: r | s
CURVE_NAME = "secp256r1"  # P-256 (FIPS 186-4), the curve of algorithm 13
_UNCOMPRESSED = b"\x04"  # SEC 1 2.3.3: an uncompressed point


def curve() -> ec.EllipticCurve:
    return ec.SECP256R1()


def ecdsa_sha256() -> ec.ECDSA:
    """ECDSA with SHA-256, the hash of algorithm 13 (RFC 6605 2)."""
    return ec.ECDSA(hashes.SHA256())


def dnskey_public_key_of(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> bytes:
    """The DNSKEY Public Key field of a P-256 key: x | y (RFC 6605 4)."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    if public.curve.name != CURVE_NAME:
        raise ValueError(f"an ECDSAP256SHA256 key is on P-256, not on {public.curve.name}")
    point = public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return point[1:]


def public_key_from_field(field: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of a DNSKEY Public Key field; ValueError if it is no point."""
    if len(field) != PUBLIC_KEY_OCTETS:
        raise ValueError(
            f"an ECDSAP256SHA256 public key is {PUBLIC_KEY_OCTETS} octets, not {len(field)}"
        )
    # cryptography refuses a point that is not on the curve.
    return ec.EllipticCurvePublicKey.from_encoded_point(curve(), _UNCOMPRESSED + field)


def field_from_ec_point(ec_point: bytes) -> bytes:
    """The DNSKEY field from a PKCS#11 CKA_EC_POINT: the X9.62 point, DER OCTET STRING
    wrapped (PKCS#11 v2.40 2.3.3) or bare as some tokens give it; checked on the curve."""
    point = ec_point
    if len(point) == 2 + 1 + PUBLIC_KEY_OCTETS and point[:2] == bytes(
        (0x04, 1 + PUBLIC_KEY_OCTETS)
    ):
        point = point[2:]  # DER OCTET STRING, length 65
    if len(point) != 1 + PUBLIC_KEY_OCTETS or point[:1] != _UNCOMPRESSED:
        raise ValueError(f"CKA_EC_POINT of {len(ec_point)} octets is no uncompressed P-256 point")
    return dnskey_public_key_of(public_key_from_field(point[1:]))


def ec_point_attribute(field: bytes) -> bytes:
    """CKA_EC_POINT for a DNSKEY field: the uncompressed point as a DER OCTET STRING."""
    public_key_from_field(field)
    return bytes((0x04, 1 + PUBLIC_KEY_OCTETS)) + _UNCOMPRESSED + field


def raw_signature(der: bytes) -> bytes:
    """r | s, 32 octets each (RFC 6605 4), from a DER ECDSA-Sig-Value."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(COORDINATE_OCTETS, "big") + s.to_bytes(COORDINATE_OCTETS, "big")


def der_signature(raw: bytes) -> bytes:
    """The DER ECDSA-Sig-Value of an RRSIG r | s; ValueError if it is not 64 octets."""
    if len(raw) != SIGNATURE_OCTETS:
        raise ValueError(
            f"an ECDSAP256SHA256 signature is {SIGNATURE_OCTETS} octets, not {len(raw)}"
        )
    r = int.from_bytes(raw[:COORDINATE_OCTETS], "big")
    s = int.from_bytes(raw[COORDINATE_OCTETS:], "big")
    return encode_dss_signature(r, s)


def verifies(field: bytes, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (r | s) is ECDSA P-256/SHA-256 over ``data`` by ``field``."""
    try:
        der = der_signature(signature)
        public_key_from_field(field).verify(der, data, ecdsa_sha256())
    except (InvalidSignature, ValueError):
        return False
    return True
