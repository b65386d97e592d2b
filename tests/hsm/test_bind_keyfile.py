"""BIND private-key files: the RFC 5702 test key parses into consistent RSA numbers."""

from __future__ import annotations

import pytest

from tldsec.hsm.bind_keyfile import parse_bind_private_key
from tldsec.policy import Algorithm

from .vectors import RFC5702_PRIVATE, rfc5702_key


def test_rfc5702_key_parses_into_a_usable_private_key() -> None:
    parsed = rfc5702_key()
    assert parsed.algorithm == Algorithm.RSASHA256
    key = parsed.numbers.private_key()  # cryptography checks p*q == n and the CRT values
    assert key.key_size == 512
    assert parsed.numbers.public_numbers.e == 65537


def test_a_missing_field_is_named() -> None:
    text = "\n".join(
        line
        for line in RFC5702_PRIVATE.read_text().splitlines()
        if not line.startswith("Coefficient")
    )
    with pytest.raises(ValueError, match="field Coefficient is missing"):
        parse_bind_private_key(text, source="k.private")


def test_other_algorithms_are_refused() -> None:
    text = RFC5702_PRIVATE.read_text().replace("Algorithm: 8 (RSASHA256)", "Algorithm: 13")
    with pytest.raises(ValueError, match=r"k\.private: Algorithm '13' is not RSASHA256"):
        parse_bind_private_key(text, source="k.private")


def test_not_a_private_key_file() -> None:
    with pytest.raises(ValueError, match="not a BIND private-key file"):
        parse_bind_private_key("Algorithm: 8\n")
    with pytest.raises(ValueError, match=r"k:1: expected 'Field: value'"):
        parse_bind_private_key("garbage\n", source="k")


def test_bad_base64_is_named() -> None:
    text = RFC5702_PRIVATE.read_text().replace("Prime1: 4c8I", "Prime1: 4c8I!")
    with pytest.raises(ValueError, match="field Prime1 is not base64"):
        parse_bind_private_key(text)
