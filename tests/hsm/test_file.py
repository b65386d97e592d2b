"""FileKeyStore: the KeyStore contract, and private PEM files or nothing."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tldsec.errors import KeyNotFound, KeyStoreError, KeyStoreUnavailable
from tldsec.hsm.file import FileKeyStore, create_key_directory
from tldsec.hsm.keyalg import verifies
from tldsec.policy import Algorithm

from . import contract


@pytest.fixture
def keydir(tmp_path: Path) -> Path:
    return create_key_directory(tmp_path / "keys")


@pytest.fixture
def store(keydir: Path) -> FileKeyStore:
    return FileKeyStore(keydir)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generates_finds_lists_and_signs(store: FileKeyStore) -> None:
    contract.check_generate_find_list_sign(store)


def test_sign_many_equals_single_signatures(store: FileKeyStore) -> None:
    info = store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    contract.check_sign_many(store, info)


def test_rsasha512_keys_sign_with_sha512(store: FileKeyStore) -> None:
    contract.check_rsasha512(store)


def test_refuses_key_sizes_and_algorithms_it_cannot_make(store: FileKeyStore) -> None:
    contract.check_refuses_bad_requests(store)


def test_ecdsa_p256_keys_survive_reopening(store: FileKeyStore, keydir: Path) -> None:
    info = contract.check_ecdsa_p256(store)
    again = FileKeyStore(keydir)
    assert again.get_key(info.key_id) == info
    message = b"signed after reopening"
    assert verifies(info.public_key, info.algorithm, message, again.sign(info.key_id, message))


def test_unknown_key_id_is_key_not_found(store: FileKeyStore) -> None:
    contract.check_unknown_key(store)


def test_rfc5702_known_answer(store: FileKeyStore) -> None:
    contract.check_rfc5702_known_answer(store)


def test_dnspython_signs_the_same_bytes(store: FileKeyStore) -> None:
    contract.check_dnspython_signs_the_same_bytes(store)


def test_keys_are_unencrypted_pkcs8_pem_with_a_json_sidecar(
    store: FileKeyStore, keydir: Path
) -> None:
    info = store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=1024)
    pem, sidecar = keydir / f"{info.key_id}.pem", keydir / f"{info.key_id}.json"
    assert pem.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert serialization.load_pem_private_key(pem.read_bytes(), None).key_size == 1024
    assert json.loads(sidecar.read_text()) == {"label": "ksk", "algorithm": 8}
    assert mode(keydir) == 0o700 and mode(pem) == 0o600 and mode(sidecar) == 0o600
    assert sorted(p.name for p in keydir.iterdir()) == sorted([pem.name, sidecar.name])


def test_keys_survive_reopening(store: FileKeyStore, keydir: Path) -> None:
    info = store.generate_key(label="ksk", algorithm=Algorithm.RSASHA512, bits=1024)
    store.close()
    again = FileKeyStore(keydir)
    assert again.list_keys() == [info]
    contract.verify(info, again.sign(info.key_id, b"data"), b"data")


def test_group_readable_key_directory_is_refused(keydir: Path) -> None:
    keydir.chmod(0o750)
    with pytest.raises(KeyStoreUnavailable) as caught:
        FileKeyStore(keydir)
    message = str(caught.value)
    assert str(keydir) in message and "0750" in message and "chmod 700" in message
    assert "Traceback" not in message


def test_group_readable_key_file_is_refused(store: FileKeyStore, keydir: Path) -> None:
    info = store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    pem = keydir / f"{info.key_id}.pem"
    pem.chmod(0o640)
    with pytest.raises(KeyStoreUnavailable, match=r"key file .*\.pem .*mode 0640.*chmod 600"):
        FileKeyStore(keydir).sign(info.key_id, b"data")


def test_missing_key_directory_is_unavailable(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(KeyStoreUnavailable, match=f"key directory {missing} does not exist"):
        FileKeyStore(missing)


def test_a_file_is_not_a_key_directory(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("")
    path.chmod(0o600)
    with pytest.raises(KeyStoreUnavailable, match="is not a directory"):
        FileKeyStore(path)


def test_create_key_directory_ignores_the_umask(tmp_path: Path) -> None:
    assert mode(create_key_directory(tmp_path / "a" / "keys")) == 0o700


def test_unreadable_sidecar_is_a_clear_error(store: FileKeyStore, keydir: Path) -> None:
    info = store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    (keydir / f"{info.key_id}.json").write_text("{not json")
    with pytest.raises(KeyStoreError, match=f"sidecar .*{info.key_id}.json is unusable"):
        FileKeyStore(keydir).get_key(info.key_id)


def test_key_ids_cannot_name_other_files(store: FileKeyStore) -> None:
    with pytest.raises(KeyStoreError, match=r"no key with id '\.\./keys'"):
        store.get_key("../keys")


def test_a_deleted_key_is_gone_with_its_sidecar(store: FileKeyStore, keydir: Path) -> None:
    """What ``KeyManager.bootstrap`` uses to remove the keys of a failed attempt."""
    info = store.generate_key(label="k", algorithm=Algorithm.RSASHA256, bits=1024)
    store.delete_key(info.key_id)
    assert list(keydir.iterdir()) == [] and store.list_keys() == []
    with pytest.raises(KeyNotFound):
        store.delete_key(info.key_id)
