"""open_keystore: a spec becomes the right store, also in a freshly forked worker."""

from __future__ import annotations

import multiprocessing
import pickle
from pathlib import Path

import pytest

from tldsec.errors import KeyStoreUnavailable
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.file import FileKeyStore, create_key_directory
from tldsec.hsm.memory import MemoryKeyStore, forget_named_store
from tldsec.hsm.open import open_keystore
from tldsec.policy import Algorithm


def test_file_spec_opens_a_file_store(tmp_path: Path) -> None:
    keys = create_key_directory(tmp_path / "keys")
    store = open_keystore(KeyStoreSpec(backend="file", directory=keys))
    assert isinstance(store, FileKeyStore)
    assert store.spec == KeyStoreSpec(backend="file", directory=keys)


def test_memory_spec_opens_the_named_memory_store() -> None:
    try:
        first = MemoryKeyStore("open-test")
        info = first.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
        store = open_keystore(first.spec)
        assert isinstance(store, MemoryKeyStore) and store.get_key(info.key_id) == info
    finally:
        forget_named_store("open-test")


def test_file_spec_without_directory_is_unavailable() -> None:
    with pytest.raises(KeyStoreUnavailable, match=r"no key directory configured"):
        open_keystore(KeyStoreSpec(backend="file"))


def test_unknown_backend_is_unavailable() -> None:
    with pytest.raises(KeyStoreUnavailable, match="unknown key store backend 'tpm'"):
        open_keystore(KeyStoreSpec(backend="tpm"))


def test_spec_is_picklable_and_hides_the_pin() -> None:
    spec = KeyStoreSpec(backend="pkcs11", module=Path("/m.so"), token_label="t", pin="secret")
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert "secret" not in repr(spec)


def _sign_in_child(spec: KeyStoreSpec, key_id: str, data: bytes) -> bytes:
    store = open_keystore(spec)
    try:
        return store.sign(key_id, data)
    finally:
        store.close()


def test_a_forked_worker_opens_its_own_store(tmp_path: Path) -> None:
    store = FileKeyStore(create_key_directory(tmp_path / "keys"))
    info = store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        signature = pool.apply(_sign_in_child, (store.spec, info.key_id, b"data"))
    assert signature == store.sign(info.key_id, b"data")
