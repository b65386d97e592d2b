"""ECDSA P-256 in DNS form (RFC 6605): the RFC's own example key, DNSKEY, DS and RRSIG.

RFC 6605 6.1 publishes a P-256 private key, its DNSKEY (key tag 55648), the SHA-256 DS
and an RRSIG over www.example.net's A RRset. The key must give the published DNSKEY
field and DS, the published signature must verify with our signed data and both of our
verifiers, and any change to data or signature must be refused.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tldsec.dnscore import names
from tldsec.dnscore.dnskey import dnskey_rdata, ds_rdata, key_tag
from tldsec.dnscore.zone import RRset
from tldsec.errors import KeyStoreError
from tldsec.hsm import eckey
from tldsec.hsm.keyalg import check_key_request, check_stored_key, verifies
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.policy import Algorithm
from tldsec.signer.rrsig import rrsig_header, signed_data
from tldsec.verify.keys import parse_dnskey

# RFC 6605 6.1 (the published example, copied verbatim).
PRIVATE = base64.b64decode("GU6SnQ/Ou+xC5RumuIUIuJZteXT2z0O/ok1s38Et6mQ=")
DNSKEY = base64.b64decode(
    "GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA=="
)
DS_DIGEST = bytes.fromhex("b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17")
SIGNATURE = base64.b64decode(
    "qx6wLYqmh+l9oCKTN6qIc+bw6ya+KJ8oMz0YP107epXAyGmt+3SNruPFKG7tZoLBLlUzGGus7ZwmwWep666VCw=="
)
INCEPTION, EXPIRATION = 1281607479, 1284026679  # 20100812100439, 20100909100439
TAG = 55648


def rfc6605_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(PRIVATE, "big"), ec.SECP256R1())


def rfc6605_signed_data() -> bytes:
    origin = names.to_wire("example.net.")
    rrset = RRset(names.to_wire("www.example.net."), 1, 3600, [bytes((192, 0, 2, 1))])
    header = rrsig_header(rrset, 13, TAG, origin, INCEPTION, EXPIRATION)
    return signed_data(header, rrset)


def test_the_rfc6605_key_gives_the_published_dnskey_tag_and_ds() -> None:
    field = eckey.dnskey_public_key_of(rfc6605_private_key())
    assert field == DNSKEY
    rdata = dnskey_rdata(257, 13, field)
    assert key_tag(rdata) == TAG
    ds = ds_rdata(names.to_wire("example.net."), rdata, 2)
    assert ds == TAG.to_bytes(2, "big") + bytes((13, 2)) + DS_DIGEST


def test_the_published_rrsig_verifies_and_a_changed_one_is_refused() -> None:
    data = rfc6605_signed_data()
    key = parse_dnskey(dnskey_rdata(257, 13, DNSKEY))
    assert (key.problem, key.bits, key.tag) == (None, 256, TAG)
    assert key.verify(SIGNATURE, data)
    assert verifies(DNSKEY, Algorithm.ECDSAP256SHA256, data, SIGNATURE)
    flipped = SIGNATURE[:40] + bytes((SIGNATURE[40] ^ 1,)) + SIGNATURE[41:]
    for sig, signed in ((flipped, data), (SIGNATURE, data + b"\x00"), (SIGNATURE[:63], data)):
        assert not key.verify(sig, signed)
        assert not verifies(DNSKEY, Algorithm.ECDSAP256SHA256, signed, sig)


def test_a_store_key_of_the_rfc6605_numbers_signs_what_verifies() -> None:
    store = MemoryKeyStore()
    info = store.add_private_key(
        rfc6605_private_key(), label="rfc6605", algorithm=Algorithm.ECDSAP256SHA256
    )
    assert info.public_key == DNSKEY and info.bits == 256
    data = rfc6605_signed_data()
    ours = store.sign(info.key_id, data)
    assert len(ours) == 64 and parse_dnskey(dnskey_rdata(257, 13, DNSKEY)).verify(ours, data)
    with pytest.raises(KeyStoreError, match=r"outside 512\.\.4096"):
        store.add_private_key(rfc6605_private_key(), label="x", algorithm=Algorithm.RSASHA256)


def test_dnskey_fields_that_are_no_p256_point_are_refused() -> None:
    off_curve = DNSKEY[:63] + bytes((DNSKEY[63] ^ 1,))
    for bad in (DNSKEY[:63], DNSKEY + b"\x00", off_curve, b"\x00" * 64):
        with pytest.raises(ValueError):
            eckey.public_key_from_field(bad)
        key = parse_dnskey(dnskey_rdata(256, 13, bad))
        assert key.public is None and key.problem and "ECDSA P-256" in key.problem
        with pytest.raises(KeyStoreError, match="unusable algorithm 13 public key"):
            check_stored_key(bad, 13)
    other_curve = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        eckey.dnskey_public_key_of(other_curve)


def test_ec_point_attribute_round_trip() -> None:
    wrapped = eckey.ec_point_attribute(DNSKEY)
    assert wrapped[:3] == b"\x04\x41\x04"
    assert eckey.field_from_ec_point(wrapped) == DNSKEY
    assert eckey.field_from_ec_point(wrapped[2:]) == DNSKEY  # a token giving the bare point
    with pytest.raises(ValueError, match="no uncompressed P-256 point"):
        eckey.field_from_ec_point(b"\x04\x21\x02" + DNSKEY[:32])  # compressed


def test_der_and_raw_signatures_convert_both_ways() -> None:
    der = eckey.der_signature(SIGNATURE)
    assert eckey.raw_signature(der) == SIGNATURE
    with pytest.raises(ValueError, match="64 octets, not 65"):
        eckey.der_signature(SIGNATURE + b"\x00")


def test_key_requests_of_algorithm_13_are_256_bits() -> None:
    assert check_key_request(13, 256) is Algorithm.ECDSAP256SHA256
    with pytest.raises(KeyStoreError, match="P-256: 256 bits, not 384"):
        check_key_request(13, 384)
    with pytest.raises(KeyStoreError, match="algorithm 14 is not one tldsec signs with"):
        check_key_request(14, 384)
