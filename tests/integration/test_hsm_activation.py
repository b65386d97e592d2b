"""``Activation`` on real SoftHSM2 tokens: locked until the right PINs come, all or none,
and deactivation logs the tokens out and closes every session (DPS 5.2.8, 5.2.9)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from pkcs11 import Attribute, ObjectClass

from tests.fixtures.softhsm import SOFTHSM_PIN
from tldsec.errors import KeyStoreError, KeyStoreLoginError
from tldsec.hsm import p11lib
from tldsec.hsm.activation import ACTIVE, LOCKED, Activation, Token
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.policy import Algorithm

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def officer(name: str, spec: KeyStoreSpec) -> Token:
    """A token whose PIN the Security Officer holds: its spec carries none."""
    return Token(name, dataclasses.replace(spec, pin=None), officer=True)


def private_objects_seen_without_login(spec: KeyStoreSpec) -> int:
    """How many private keys a fresh session of this process sees without logging in:
    none unless the token is still logged in for the process (PKCS#11 v2.40 5.6)."""
    assert spec.module is not None and spec.token_label is not None
    entry = p11lib.attach(spec.module, spec.softhsm2_conf)
    session = p11lib.find_token(entry, spec.token_label).open()
    try:
        return len(list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})))
    finally:
        session.close()


def test_locked_until_the_right_pin_then_deactivation_logs_out(
    softhsm_spec: KeyStoreSpec,
) -> None:
    with Pkcs11KeyStore(softhsm_spec) as setup:
        key = setup.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    activation = Activation([officer("keystore", softhsm_spec)])
    assert activation.state == LOCKED and activation.stores() == {}
    with pytest.raises(KeyStoreLoginError, match="locked"):
        activation.pins()

    # a wrong PIN: refused, still locked, nothing held, the reason kept for status
    with pytest.raises(KeyStoreLoginError, match="wrong PIN"):
        activation.activate({"keystore": "not-the-pin"}, now=NOW, by="person:so")
    assert activation.state == LOCKED and activation.stores() == {}
    assert "wrong PIN" in (activation.status()["last_error"] or "")

    activation.activate({"keystore": SOFTHSM_PIN}, now=NOW, by="person:so")
    assert activation.state == ACTIVE and activation.by == "person:so"
    assert activation.pins() == {"keystore": SOFTHSM_PIN}
    store = activation.stores()["keystore"]
    assert len(store.sign(key.key_id, b"challenge")) == 128
    assert private_objects_seen_without_login(softhsm_spec) == 1  # logged in

    activation.deactivate(now=NOW, by="person:so")
    assert activation.state == LOCKED and activation.stores() == {}
    with pytest.raises(KeyStoreLoginError):
        activation.pins()  # the PIN is forgotten
    with pytest.raises(KeyStoreError, match="closed"):
        store.sign(key.key_id, b"after")  # the store is closed
    assert private_objects_seen_without_login(softhsm_spec) == 0  # logged out


def test_activation_is_all_or_none(softhsm_token: Callable[[], KeyStoreSpec]) -> None:
    first, second = softhsm_token(), softhsm_token()
    activation = Activation([officer("keystore", first), officer("replica site2", second)])
    with pytest.raises(KeyStoreLoginError, match="no PIN given for replica site2"):
        activation.activate({"keystore": SOFTHSM_PIN}, now=NOW, by="person:so")
    with pytest.raises(KeyStoreLoginError, match="wrong PIN"):
        activation.activate(
            {"keystore": SOFTHSM_PIN, "replica site2": "wrong-pin"}, now=NOW, by="person:so"
        )
    assert activation.state == LOCKED
    assert private_objects_seen_without_login(first) == 0  # the first login was undone
    activation.activate(
        {"keystore": SOFTHSM_PIN, "replica site2": SOFTHSM_PIN}, now=NOW, by="person:so"
    )
    assert set(activation.stores()) == {"keystore", "replica site2"}
    with pytest.raises(KeyStoreError, match="already active"):
        activation.activate({}, now=NOW, by="person:so")
    activation.deactivate(now=NOW, by="person:so")


def test_a_token_whose_pin_is_stored_needs_none_from_the_officer(
    softhsm_spec: KeyStoreSpec,
) -> None:
    activation = Activation([Token("keystore", softhsm_spec, officer=False)])
    assert activation.officer_tokens() == []
    activation.activate({}, now=NOW, by="component:serve")
    assert activation.pins() == {}  # nothing of the officer's to pass on
    activation.deactivate(now=NOW, by="component:serve")
