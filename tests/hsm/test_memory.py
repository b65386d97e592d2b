"""MemoryKeyStore: the KeyStore contract, plus named in-process key sets for tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tldsec.errors import KeyNotFound
from tldsec.hsm.memory import MemoryKeyStore, forget_named_store
from tldsec.policy import Algorithm

from . import contract


@pytest.fixture
def store() -> MemoryKeyStore:
    return MemoryKeyStore()


@pytest.fixture
def name() -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    forget_named_store(name)


def test_generates_finds_lists_and_signs(store: MemoryKeyStore) -> None:
    contract.check_generate_find_list_sign(store)


def test_sign_many_equals_single_signatures(store: MemoryKeyStore) -> None:
    info = store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    contract.check_sign_many(store, info)


def test_rsasha512_keys_sign_with_sha512(store: MemoryKeyStore) -> None:
    contract.check_rsasha512(store)


def test_refuses_key_sizes_and_algorithms_it_cannot_make(store: MemoryKeyStore) -> None:
    contract.check_refuses_bad_requests(store)


def test_ecdsa_p256_keys(store: MemoryKeyStore) -> None:
    contract.check_ecdsa_p256(store)


def test_unknown_key_id_is_key_not_found(store: MemoryKeyStore) -> None:
    contract.check_unknown_key(store)


def test_rfc5702_known_answer(store: MemoryKeyStore) -> None:
    contract.check_rfc5702_known_answer(store)


def test_dnspython_signs_the_same_bytes(store: MemoryKeyStore) -> None:
    contract.check_dnspython_signs_the_same_bytes(store)


def test_a_given_private_key_can_be_injected_with_a_chosen_id(store: MemoryKeyStore) -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    info = store.add_private_key(
        private_key, label="fixed", algorithm=Algorithm.RSASHA256, key_id="ab" * 16
    )
    assert info.key_id == "ab" * 16
    contract.verify(info, store.sign(info.key_id, b"data"), b"data")


def test_stores_of_one_name_share_keys(name: str) -> None:
    first = MemoryKeyStore(name)
    info = first.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    second = MemoryKeyStore(name)
    assert second.get_key(info.key_id) == info
    assert second.spec.backend == "memory" and second.spec.token_label == name


def test_unnamed_stores_are_private() -> None:
    first = MemoryKeyStore()
    info = first.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    with pytest.raises(KeyNotFound, match=info.key_id):
        MemoryKeyStore().get_key(info.key_id)


def test_deleted_key_is_gone(store: MemoryKeyStore) -> None:
    info = store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    store.delete_key(info.key_id)
    assert store.list_keys() == []
    with pytest.raises(KeyNotFound):
        store.sign(info.key_id, b"x")
