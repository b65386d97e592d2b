"""Interop: the SLIP-0039 shares the SMK is split into (``hsm/backup.py``) are those of the
published test vectors (tests/vectors/slip39-vectors.json, passphrase "TREZOR"): every
valid set rebuilds its secret, every invalid one is refused; and ``assemble_smk`` names
the vectors' bad sets (wrong checksum, another split, too few shares) as its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shamir_mnemonic

from tldsec.errors import KeyStoreError
from tldsec.hsm.backup import assemble_smk

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "slip39-vectors.json").read_text("utf-8")
)
BY_NUMBER = {int(v[0].split(".")[0]): v for v in VECTORS}


@pytest.mark.parametrize("vector", VECTORS, ids=[v[0].split(".")[0] for v in VECTORS])
def test_the_library_meets_the_published_vectors(vector: list[object]) -> None:
    _, mnemonics, secret = vector
    assert isinstance(mnemonics, list) and isinstance(secret, str)
    if secret:
        assert shamir_mnemonic.combine_mnemonics(mnemonics, b"TREZOR").hex() == secret
    else:
        with pytest.raises((shamir_mnemonic.MnemonicError, ValueError)):
            shamir_mnemonic.combine_mnemonics(mnemonics, b"TREZOR")


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (21, "share 1 is not a valid SLIP-39 share"),  # invalid checksum
        (22, "share 1 is not a valid SLIP-39 share"),  # invalid padding
        (24, "1 distinct shares given; SMK 00000000000000ff needs 2"),
        (25, "the shares belong to different SMKs"),
        (30, "1 distinct shares given"),  # duplicate member indices
        (32, "cannot rebuild the Storage Master Key: Invalid digest"),
        (23, "do not rebuild SMK 00000000000000ff"),  # valid, but not this SMK
    ],
)
def test_assemble_smk_refuses_the_bad_sets(number: int, message: str) -> None:
    with pytest.raises(KeyStoreError, match=message):
        assemble_smk("00000000000000ff", BY_NUMBER[number][1])
