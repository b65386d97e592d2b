"""HsmPrivateKey: dnspython signs through a KeyStore (the equality checks are in contract)."""

from __future__ import annotations

import pytest

from tldsec.errors import KeyStoreError
from tldsec.hsm.dnspython_key import HsmPrivateKey, HsmPrivateKeySHA512, hsm_private_key
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.policy import Algorithm


@pytest.fixture
def store() -> MemoryKeyStore:
    return MemoryKeyStore()


def test_the_factory_picks_the_class_of_the_algorithm(store: MemoryKeyStore) -> None:
    sha256 = store.generate_key(label="a", algorithm=Algorithm.RSASHA256, bits=1024)
    sha512 = store.generate_key(label="b", algorithm=Algorithm.RSASHA512, bits=1024)
    assert type(hsm_private_key(store, sha256.key_id)) is HsmPrivateKey
    assert type(hsm_private_key(store, sha512.key_id)) is HsmPrivateKeySHA512
    assert hsm_private_key(store, sha512.key_id).public_key().algorithm == 10


def test_a_key_of_another_algorithm_is_refused(store: MemoryKeyStore) -> None:
    sha512 = store.generate_key(label="b", algorithm=Algorithm.RSASHA512, bits=1024)
    with pytest.raises(KeyStoreError, match="is algorithm 10, not 8"):
        HsmPrivateKey(store, sha512.key_id)


def test_the_private_key_cannot_be_exported(store: MemoryKeyStore) -> None:
    info = store.generate_key(label="a", algorithm=Algorithm.RSASHA256, bits=1024)
    key = HsmPrivateKey(store, info.key_id)
    with pytest.raises(TypeError, match="cannot be exported"):
        key.to_pem()
    with pytest.raises(TypeError, match="opened from its store"):
        HsmPrivateKey.from_pem(b"")


def test_sign_with_verify_checks_the_signature(store: MemoryKeyStore) -> None:
    info = store.generate_key(label="a", algorithm=Algorithm.RSASHA256, bits=1024)
    key = HsmPrivateKey(store, info.key_id)
    assert key.sign(b"data", verify=True) == store.sign(info.key_id, b"data")
