"""Pkcs11KeyStore on real SoftHSM2 tokens: the KeyStore contract, key protection, failures.

Every token is made fresh by the ``softhsm_*`` fixtures (tests/fixtures/softhsm.py) in a
temporary directory; nothing here touches the system's SoftHSM2 configuration.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from tests.hsm import contract
from tldsec.errors import KeyNotFound, KeyStoreError, KeyStoreLoginError, KeyStoreUnavailable
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.open import open_keystore
from tldsec.hsm.pkcs11 import KeyProtection, Pkcs11KeyStore
from tldsec.policy import Algorithm

PRIVATE_COMPONENTS = (
    Attribute.PRIVATE_EXPONENT,
    Attribute.PRIME_1,
    Attribute.PRIME_2,
    Attribute.EXPONENT_1,
    Attribute.EXPONENT_2,
    Attribute.COEFFICIENT,
)


def assert_clean_message(exc: BaseException, *fragments: str) -> None:
    message = str(exc)
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in message and "\n" not in message


# -- the KeyStore contract ----------------------------------------------------------


def test_generates_finds_lists_and_signs(softhsm_store: Pkcs11KeyStore) -> None:
    contract.check_generate_find_list_sign(softhsm_store)


def test_sign_many_equals_single_signatures(softhsm_store: Pkcs11KeyStore) -> None:
    info = softhsm_store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    contract.check_sign_many(softhsm_store, info)


def test_rsasha512_keys_sign_with_sha512(softhsm_store: Pkcs11KeyStore) -> None:
    contract.check_rsasha512(softhsm_store)


def test_refuses_key_sizes_and_algorithms_it_cannot_make(softhsm_store: Pkcs11KeyStore) -> None:
    contract.check_refuses_bad_requests(softhsm_store)
    assert softhsm_store.list_keys() == []


def test_unknown_key_id_is_key_not_found(softhsm_store: Pkcs11KeyStore) -> None:
    contract.check_unknown_key(softhsm_store)


def test_rfc5702_known_answer_inside_the_token(softhsm_store: Pkcs11KeyStore) -> None:
    info = contract.check_rfc5702_known_answer(softhsm_store)
    assert softhsm_store.key_protection(info.key_id).sensitive


def test_dnspython_signs_the_same_bytes_through_the_token(softhsm_store: Pkcs11KeyStore) -> None:
    contract.check_dnspython_signs_the_same_bytes(softhsm_store)


def test_keys_persist_in_the_token(softhsm_spec: KeyStoreSpec) -> None:
    with Pkcs11KeyStore(softhsm_spec) as first:
        info = first.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=1024)
        signature = first.sign(info.key_id, b"data")
    with Pkcs11KeyStore(softhsm_spec) as second:
        assert second.list_keys() == [info]
        assert second.sign(info.key_id, b"data") == signature


# -- how the private key is kept (DPS 5.1.1, 5.2) ------------------------------------


def test_private_key_is_sensitive_and_extractable_only_wrapped(
    softhsm_store: Pkcs11KeyStore, softhsm_spec: KeyStoreSpec
) -> None:
    info = softhsm_store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=1024)
    assert softhsm_store.key_protection(info.key_id) == KeyProtection(
        sensitive=True,
        always_sensitive=True,
        extractable=True,
        never_extractable=False,
        private=True,
        token=True,
        sign=True,
        wrap_with_trusted=True,
        local=True,
    )

    # An independent look with python-pkcs11 itself, in a session of our own (it shares
    # the store's login, PKCS#11 v2.40 5.6).
    token = pkcs11.lib(str(softhsm_spec.module)).get_token(token_label=softhsm_spec.token_label)
    session = token.open(rw=True)
    try:
        private = session.get_key(
            ObjectClass.PRIVATE_KEY, KeyType.RSA, id=bytes.fromhex(info.key_id)
        )
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.DECRYPT] is False and private[Attribute.UNWRAP] is False
        for component in PRIVATE_COMPONENTS:
            with pytest.raises(pkcs11.AttributeSensitive):
                private[component]
        with pytest.raises((pkcs11.AttributeSensitive, pkcs11.AttributeTypeInvalid)):
            private[Attribute.VALUE]
        # The public half is public: modulus and exponent read fine.
        assert int.from_bytes(private[Attribute.MODULUS], "big").bit_length() == 1024

        # Extractable means: it leaves the token wrapped under a trusted key (the SMK,
        # tests/hsm/test_backup.py), never under a key-encryption key of the user's own
        # (tests/integration/test_hsm_exfiltration.py).
        kek = session.generate_key(KeyType.AES, 256, store=False, template={Attribute.WRAP: True})
        with pytest.raises(pkcs11.KeyNotWrappable):
            kek.wrap_key(private, mechanism=Mechanism.AES_KEY_WRAP_PAD)
    finally:
        session.close()


def test_ecdsa_p256_keys_in_the_token_are_protected_like_rsa_keys(
    softhsm_store: Pkcs11KeyStore, softhsm_spec: KeyStoreSpec
) -> None:
    """Algorithm 13 in the token: generated there on P-256 with the protection of every
    key (decision 20), the DNSKEY field is the token's CKA_EC_POINT, r | s verifies."""
    info = contract.check_ecdsa_p256(softhsm_store)
    assert softhsm_store.key_protection(info.key_id) == KeyProtection(
        sensitive=True,
        always_sensitive=True,
        extractable=True,
        never_extractable=False,
        private=True,
        token=True,
        sign=True,
        wrap_with_trusted=True,
        local=True,
    )
    token = pkcs11.lib(str(softhsm_spec.module)).get_token(token_label=softhsm_spec.token_label)
    session = token.open(rw=True)
    try:
        ckid = bytes.fromhex(info.key_id)
        private = session.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC, id=ckid)
        public = session.get_key(ObjectClass.PUBLIC_KEY, KeyType.EC, id=ckid)
        with pytest.raises((pkcs11.AttributeSensitive, pkcs11.AttributeTypeInvalid)):
            private[Attribute.VALUE]
        assert private[Attribute.DECRYPT] is False and private[Attribute.DERIVE] is False
        assert bytes(public[Attribute.EC_POINT]) == b"\x04\x41\x04" + info.public_key
        kek = session.generate_key(KeyType.AES, 256, store=False, template={Attribute.WRAP: True})
        with pytest.raises(pkcs11.KeyNotWrappable):
            kek.wrap_key(private, mechanism=Mechanism.AES_KEY_WRAP_PAD)
    finally:
        session.close()
    # Found again from the token alone (a new store: no cache).
    with Pkcs11KeyStore(softhsm_spec) as again:
        assert again.get_key(info.key_id) == info


def test_public_key_is_the_dnskey_field_of_the_token_key(
    softhsm_store: Pkcs11KeyStore, softhsm_spec: KeyStoreSpec
) -> None:
    info = softhsm_store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    token = pkcs11.lib(str(softhsm_spec.module)).get_token(token_label=softhsm_spec.token_label)
    session = token.open()
    try:
        public = session.get_key(ObjectClass.PUBLIC_KEY, KeyType.RSA, id=bytes.fromhex(info.key_id))
        modulus = bytes(public[Attribute.MODULUS])
        assert public[Attribute.LABEL] == "zsk"
        assert public[Attribute.PUBLIC_EXPONENT] == b"\x01\x00\x01"
    finally:
        session.close()
    assert info.public_key == b"\x03\x01\x00\x01" + modulus.lstrip(b"\x00")


# -- failures, each a clear TldsecError -----------------------------------------------


def test_wrong_pin_is_a_login_error(softhsm_spec: KeyStoreSpec) -> None:
    # No store is open on this token: the token itself checks the PIN (CKR_PIN_INCORRECT).
    with pytest.raises(KeyStoreLoginError) as caught:
        Pkcs11KeyStore(replace(softhsm_spec, pin="0000-wrong"))
    assert_clean_message(caught.value, f"wrong PIN for token '{softhsm_spec.token_label}'")
    assert isinstance(caught.value.__cause__, pkcs11.PinIncorrect)
    with Pkcs11KeyStore(softhsm_spec) as store:  # the right PIN still works
        assert store.list_keys() == []


def test_wrong_pin_is_refused_while_the_token_is_logged_in(
    softhsm_store: Pkcs11KeyStore, softhsm_spec: KeyStoreSpec
) -> None:
    with pytest.raises(KeyStoreLoginError) as caught:
        Pkcs11KeyStore(replace(softhsm_spec, pin="0000-wrong"))
    assert_clean_message(caught.value, f"wrong PIN for token '{softhsm_spec.token_label}'")


def test_missing_token_label_lists_the_labels_found(softhsm_spec: KeyStoreSpec) -> None:
    with pytest.raises(KeyStoreUnavailable) as caught:
        Pkcs11KeyStore(replace(softhsm_spec, token_label="no-such-token"))
    assert_clean_message(
        caught.value,
        "no token labelled 'no-such-token'",
        str(softhsm_spec.module),
        f"'{softhsm_spec.token_label}'",
    )


def test_missing_module_is_unavailable(softhsm_spec: KeyStoreSpec, tmp_path: Path) -> None:
    missing = tmp_path / "libvendorhsm.so"
    with pytest.raises(KeyStoreUnavailable) as caught:
        open_keystore(replace(softhsm_spec, module=missing))
    assert_clean_message(caught.value, f"PKCS#11 module {missing} does not exist")


def test_a_file_that_is_no_pkcs11_module_is_unavailable(
    softhsm_spec: KeyStoreSpec, tmp_path: Path
) -> None:
    bogus = tmp_path / "libbogus.so"
    bogus.write_bytes(b"not a shared object")
    with pytest.raises(KeyStoreUnavailable) as caught:
        open_keystore(replace(softhsm_spec, module=bogus))
    assert_clean_message(caught.value, f"cannot load PKCS#11 module {bogus}")


def test_incomplete_specs_are_refused(softhsm_spec: KeyStoreSpec) -> None:
    with pytest.raises(KeyStoreUnavailable, match="no PKCS#11 module configured"):
        Pkcs11KeyStore(replace(softhsm_spec, module=None))
    with pytest.raises(KeyStoreUnavailable, match="no token label configured"):
        Pkcs11KeyStore(replace(softhsm_spec, token_label=None))
    with pytest.raises(KeyStoreLoginError, match="no PIN given for token"):
        Pkcs11KeyStore(replace(softhsm_spec, pin=None))


def test_a_closed_store_refuses_work(softhsm_spec: KeyStoreSpec) -> None:
    store = Pkcs11KeyStore(softhsm_spec)
    store.close()
    store.close()  # idempotent
    with pytest.raises(KeyStoreError, match="is closed"):
        store.list_keys()


def test_deleted_key_is_gone(softhsm_store: Pkcs11KeyStore) -> None:
    info = softhsm_store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    softhsm_store.delete_key(info.key_id)
    assert softhsm_store.list_keys() == []
    with pytest.raises(KeyNotFound, match=info.key_id):
        softhsm_store.sign(info.key_id, b"data")


# -- one process, several stores; new tokens; forked workers --------------------------


def test_stores_on_one_token_share_the_login(softhsm_spec: KeyStoreSpec) -> None:
    first = Pkcs11KeyStore(softhsm_spec)
    second = Pkcs11KeyStore(softhsm_spec)
    info = first.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    first.close()  # must not log the token out under the second store
    assert second.sign(info.key_id, b"data") == open_keystore(softhsm_spec).sign(
        info.key_id, b"data"
    )
    second.close()


def test_tokens_created_later_are_found_and_open_stores_carry_on(
    softhsm_store: Pkcs11KeyStore,
    softhsm_token: Callable[[], KeyStoreSpec],
    softhsm_home: Path,
) -> None:
    info = softhsm_store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    before = softhsm_store.sign(info.key_id, b"data")

    # A token initialised in this process (C_InitToken) ...
    with Pkcs11KeyStore(softhsm_token()) as other:
        assert other.list_keys() == []

    # ... and one made by softhsm2-util in another process after the module was loaded:
    # SoftHSM2 sees it only after C_Finalize + C_Initialize, which closes every session.
    spec = replace(softhsm_store.spec, token_label="made-by-softhsm2-util")
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            "made-by-softhsm2-util",
            "--so-pin",
            "so-pin-1",
            "--pin",
            "user-pin-1",
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(spec.softhsm2_conf)},
    )
    with Pkcs11KeyStore(replace(spec, pin="user-pin-1")) as later:
        assert later.list_keys() == []

    # The first store's session was closed by the re-initialisation; it re-opens its own.
    assert softhsm_store.sign(info.key_id, b"data") == before
    assert softhsm_home.exists()


def _sign_in_fresh_worker(spec: KeyStoreSpec, key_id: str, data: bytes) -> bytes:
    store = open_keystore(spec)
    try:
        return store.sign(key_id, data)
    finally:
        store.close()


def _sign_with_inherited_store(store: Pkcs11KeyStore, key_id: str, conn: Connection) -> None:
    try:
        conn.send(store.sign(key_id, b"inherited"))
    except KeyStoreError as exc:
        conn.send(str(exc))
    finally:
        conn.close()


def test_forked_workers_open_their_own_sessions(softhsm_store: Pkcs11KeyStore) -> None:
    info = softhsm_store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    items = [f"item {i}".encode() for i in range(4)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        signatures = pool.starmap(
            _sign_in_fresh_worker, [(softhsm_store.spec, info.key_id, item) for item in items]
        )
    assert signatures == softhsm_store.sign_many(info.key_id, items)

    # A store object inherited through fork re-initialises the module in the child.
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_sign_with_inherited_store, args=(softhsm_store, info.key_id, sender)
    )
    child.start()
    sender.close()
    result = receiver.recv()
    child.join(30)
    assert child.exitcode == 0
    assert result == softhsm_store.sign(info.key_id, b"inherited")


def test_many_workers_opening_the_token_at_once(softhsm_store: Pkcs11KeyStore) -> None:
    """SoftHSM2's file store fails processes that open one token at the same moment
    (SoftHSMv2 #757); opening is serialised by a lock beside softhsm2.conf."""
    info = softhsm_store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    expected = softhsm_store.sign(info.key_id, b"data")
    ctx = multiprocessing.get_context("fork")
    for _ in range(3):
        with ctx.Pool(4) as pool:
            signatures = pool.starmap(
                _sign_in_fresh_worker, [(softhsm_store.spec, info.key_id, b"data")] * 8
            )
        assert signatures == [expected] * 8
