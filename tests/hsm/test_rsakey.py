"""RFC 3110 2: the RSA public key field of a DNSKEY, both ways."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tldsec.dnscore.dnskey import dnskey_rdata, key_tag
from tldsec.errors import KeyStoreError
from tldsec.hsm.rsakey import (
    check_key_request,
    dnskey_public_key,
    dnskey_public_key_of,
    new_key_id,
    parse_dnskey_public_key,
    public_key_from_field,
)
from tldsec.policy import Algorithm

from .vectors import RFC5702_KEY_TAG, rfc5702_key, rfc5702_records


def test_rfc5702_key_encodes_to_the_published_dnskey() -> None:
    numbers = rfc5702_key().numbers.public_numbers
    field = dnskey_public_key(numbers.e, numbers.n)
    assert field == rfc5702_records().dnskey.key
    assert field[:4] == b"\x03\x01\x00\x01"  # 1-octet length 3, then 65537
    assert key_tag(dnskey_rdata(256, 8, field)) == RFC5702_KEY_TAG


def test_exponent_longer_than_255_octets_uses_the_three_octet_form() -> None:
    exponent = (1 << (8 * 300 - 1)) + 1  # 300 octets
    modulus = (1 << 1023) + 12345
    field = dnskey_public_key(exponent, modulus)
    assert field[:3] == b"\x00\x01\x2c"  # 0, then 300 as two octets
    assert parse_dnskey_public_key(field) == (exponent, modulus)


def test_round_trip_through_cryptography() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    field = dnskey_public_key_of(key)
    assert public_key_from_field(field).public_numbers() == key.public_key().public_numbers()


@pytest.mark.parametrize(
    "field", [b"", b"\x00\x01", b"\x03\x01\x00\x01", b"\x05\x01\x00"], ids=repr
)
def test_truncated_fields_are_refused(field: bytes) -> None:
    with pytest.raises(ValueError, match="RSA public key field"):
        parse_dnskey_public_key(field)


def test_key_ids_are_16_random_octets_in_hex() -> None:
    ids = {new_key_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_key_requests_follow_rfc5702_sizes() -> None:
    assert check_key_request(8, 512) is Algorithm.RSASHA256
    assert check_key_request(10, 4096) is Algorithm.RSASHA512
    for algorithm, bits in ((10, 512), (8, 4104), (8, 1025)):
        with pytest.raises(KeyStoreError, match=f"{bits}-bit keys are outside"):
            check_key_request(algorithm, bits)
