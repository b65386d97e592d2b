"""The attacks of issue 14 on the keys in a real SoftHSM2 token, by someone holding the
user PIN (which the service holds): each must be refused by the token itself.

1. A session AES key the attacker can read, the KSK wrapped under it, unwrapped offline:
   refused, the KSK is CKA_WRAP_WITH_TRUSTED and only the SMK is trusted (DPS 5.2.5).
2. The attacker marks their own key trusted: refused, only the security officer may.
3. An archived KSK unwrapped under the real SMK as a non-sensitive key, then read:
   refused by the SMK's CKA_UNWRAP_TEMPLATE.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pkcs11
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from tests.fixtures.softhsm import SOFTHSM_SO_PIN
from tldsec.hsm import p11lib
from tldsec.hsm.backup import Holder, back_up, split_smk
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.hsm.smk import SMK_BYTES, officer_session
from tldsec.policy import Algorithm


def attacker_session(spec: KeyStoreSpec) -> object:
    """A session of the attacker's own on the token, sharing the service's login."""
    assert spec.module is not None and spec.token_label is not None
    entry = p11lib.attach(spec.module, spec.softhsm2_conf)
    return p11lib.find_token(entry, spec.token_label).open(rw=True)


def test_the_ksk_cannot_be_wrapped_under_a_session_key_and_read(
    softhsm_spec: KeyStoreSpec,
) -> None:
    with Pkcs11KeyStore(softhsm_spec) as store:
        ksk = store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=2048)
        session = attacker_session(softhsm_spec)
        private = session.get_key(  # type: ignore[attr-defined]
            object_class=ObjectClass.PRIVATE_KEY, id=bytes.fromhex(ksk.key_id)
        )
        assert private[Attribute.LOCAL] and private[Attribute.WRAP_WITH_TRUSTED]
        readable = session.generate_key(  # type: ignore[attr-defined]
            KeyType.AES,
            256,
            store=False,
            template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
        )
        with pytest.raises(pkcs11.KeyNotWrappable):
            wrapped = readable.wrap_key(private, mechanism=Mechanism.AES_KEY_WRAP_PAD)
            # What the attack did before: the KSK's PKCS#8 in clear, offline.
            aes_key_unwrap_with_padding(readable[Attribute.VALUE], wrapped)
        with pytest.raises(pkcs11.AttributeReadOnly):
            readable[Attribute.TRUSTED] = True
        with pytest.raises(pkcs11.AttributeReadOnly):
            private[Attribute.WRAP_WITH_TRUSTED] = False
        session.close()  # type: ignore[attr-defined]


def test_an_archived_key_cannot_be_unwrapped_as_readable(
    softhsm_token: Callable[[], KeyStoreSpec],
) -> None:
    spec = softhsm_token()
    with officer_session(spec, SOFTHSM_SO_PIN) as officer:
        secret = officer.random(SMK_BYTES)
        holders = [
            Holder(f"h{i}", Ed25519PrivateKey.generate().public_key().public_bytes_raw())
            for i in range(2)
        ]
        (share, *_) = split_smk(secret, holders, 2)
        officer.install(secret, share.smk_check)
    with Pkcs11KeyStore(spec) as store:
        store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=1024)
        archive = back_up(store, share.smk_check, datetime.now(UTC))
        session = attacker_session(spec)
        smk = session.get_key(  # type: ignore[attr-defined]
            object_class=ObjectClass.SECRET_KEY, id=bytes.fromhex(share.smk_check)
        )
        assert smk[Attribute.TRUSTED] and smk[Attribute.SENSITIVE]
        assert not smk[Attribute.EXTRACTABLE]
        with pytest.raises(pkcs11.TemplateInconsistent):
            smk.unwrap_key(
                ObjectClass.PRIVATE_KEY,
                KeyType.RSA,
                archive.keys[0].wrapped,
                mechanism=Mechanism.AES_KEY_WRAP_PAD,
                store=False,
                template={
                    Attribute.SENSITIVE: False,
                    Attribute.EXTRACTABLE: True,
                    Attribute.ENCRYPT: pkcs11.DEFAULT,
                    Attribute.VERIFY: pkcs11.DEFAULT,
                    Attribute.WRAP: pkcs11.DEFAULT,
                },
            )
        session.close()  # type: ignore[attr-defined]
