"""The audit key in SoftHSM2: Ed25519 generated inside the token, checkpoints it signs verify."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pkcs11 import Attribute, KeyType, ObjectClass

from tldsec.audit.pkcs11_signer import Pkcs11AuditSigner, module_supports_eddsa
from tldsec.audit.signing import key_id_of, verify_signature
from tldsec.errors import AuditError, KeyStoreLoginError
from tldsec.hsm import p11lib
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.policy import Algorithm


def open_args(spec: KeyStoreSpec) -> dict[str, object]:
    assert spec.module is not None and spec.token_label and spec.pin
    return {
        "module": spec.module,
        "token_label": spec.token_label,
        "pin": spec.pin,
        "softhsm2_conf": spec.softhsm2_conf,
    }


def test_softhsm2_here_supports_ed25519(softhsm_spec: KeyStoreSpec) -> None:
    # SoftHSM2 2.6 on Debian is built with EdDSA; docs/audit.md relies on it.
    assert softhsm_spec.module is not None and softhsm_spec.token_label
    assert module_supports_eddsa(
        softhsm_spec.module, softhsm_spec.token_label, softhsm_spec.softhsm2_conf
    )


def test_a_generated_audit_key_signs_verifiable_checkpoints(softhsm_spec: KeyStoreSpec) -> None:
    signer = Pkcs11AuditSigner.create(**open_args(softhsm_spec))  # type: ignore[arg-type]
    try:
        signature = signer.sign(b"checkpoint statement")
        assert len(signature) == 64
        assert verify_signature(signer.public_key(), signature, b"checkpoint statement")
        assert not verify_signature(signer.public_key(), signature, b"another statement")
        assert signer.key_id == key_id_of(signer.public_key())
    finally:
        signer.close()
    # Opened again later, it is the same key.
    again = Pkcs11AuditSigner(**open_args(softhsm_spec))  # type: ignore[arg-type]
    try:
        assert again.key_id == signer.key_id
    finally:
        again.close()


def test_the_private_key_is_sensitive_and_not_extractable(softhsm_spec: KeyStoreSpec) -> None:
    Pkcs11AuditSigner.create(**open_args(softhsm_spec)).close()  # type: ignore[arg-type]
    assert softhsm_spec.module is not None and softhsm_spec.token_label
    entry = p11lib.attach(softhsm_spec.module, softhsm_spec.softhsm2_conf)
    token = p11lib.find_token(entry, softhsm_spec.token_label)
    assert softhsm_spec.pin is not None
    p11lib.login(entry, token, softhsm_spec.pin)
    try:
        with token.open() as session:
            key = session.get_key(
                object_class=ObjectClass.PRIVATE_KEY,
                key_type=KeyType.EC_EDWARDS,
                label="tldsec-audit",
            )
            assert key[Attribute.SENSITIVE] is True
            assert key[Attribute.EXTRACTABLE] is False
    finally:
        p11lib.logout(entry, token.slot.slot_id)


def test_a_second_audit_key_with_the_same_label_is_refused(softhsm_spec: KeyStoreSpec) -> None:
    Pkcs11AuditSigner.create(**open_args(softhsm_spec)).close()  # type: ignore[arg-type]
    with pytest.raises(AuditError, match="already holds objects labelled 'tldsec-audit'"):
        Pkcs11AuditSigner.create(**open_args(softhsm_spec))  # type: ignore[arg-type]


def test_opening_a_token_without_the_key_says_to_run_init(softhsm_spec: KeyStoreSpec) -> None:
    with pytest.raises(AuditError, match="run 'tldsec audit init'"):
        Pkcs11AuditSigner(**open_args(softhsm_spec))  # type: ignore[arg-type]


def test_a_wrong_pin_is_refused(softhsm_spec: KeyStoreSpec) -> None:
    args = open_args(softhsm_spec) | {"pin": "wrong-pin"}
    with pytest.raises(KeyStoreLoginError):
        Pkcs11AuditSigner.create(**args)  # type: ignore[arg-type]


def test_the_audit_signer_shares_the_token_with_a_zone_key_store(
    softhsm_spec: KeyStoreSpec,
) -> None:
    # One process, one token: the cycle signs the zone and then an audit checkpoint.
    store = Pkcs11KeyStore(softhsm_spec)
    try:
        zsk = store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
        signer = Pkcs11AuditSigner.create(**open_args(softhsm_spec))  # type: ignore[arg-type]
        signer.sign(b"audit")
        signer.close()  # must not log the store out
        assert len(store.sign(zsk.key_id, b"zone data")) == 128
    finally:
        store.close()


def test_the_signer_reopens_after_the_module_is_reinitialised(
    softhsm_token: Callable[[], KeyStoreSpec],
) -> None:
    spec = softhsm_token()
    signer = Pkcs11AuditSigner.create(**open_args(spec))  # type: ignore[arg-type]
    try:
        assert spec.module is not None
        p11lib.restart(p11lib.attach(spec.module, spec.softhsm2_conf))
        assert verify_signature(signer.public_key(), signer.sign(b"after"), b"after")
    finally:
        signer.close()
