"""What a key store does with the Storage Master Key (DPS 5.2.4, 5.2.5, 5.2.7).

Keys leave the token only wrapped under the SMK (RFC 5649, CKM_AES_KEY_WRAP_PAD), come
back only unwrapped under it, and an archive's metadata is MACed in the token by a
one-use key that travels wrapped under it (``hsm/backup.py``). ``SmkWrapping`` is the
part of ``Pkcs11KeyStore`` that does this; it works in the store's session and finds
keys through it (``_live``, ``_key``, ``_errors``, ``_finish_new_key``).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from tldsec.errors import KeyStoreError
from tldsec.hsm import eckey
from tldsec.hsm.base import KeyInfo
from tldsec.hsm.keyalg import check_stored_key, is_ecdsa, verifies
from tldsec.hsm.p11objects import (
    MAC_KEY_TEMPLATE,
    MECHANISMS,
    PRIVATE_KEY_TEMPLATE,
    biginteger,
    refuses,
)
from tldsec.hsm.rsakey import PUBLIC_EXPONENT, parse_dnskey_public_key
from tldsec.policy import Algorithm


class SmkWrapping:
    """Wrapping, unwrapping and MACs under the SMK, in the key store's own session."""

    _label: str

    # -- what the key store provides ----------------------------------------------------

    def _live(self) -> Any:
        raise NotImplementedError

    def _errors(self, op: str, key_id: str | None = None) -> Any:
        raise NotImplementedError

    def _key(self, key_id: str) -> Any:
        raise NotImplementedError

    def _finish_new_key(
        self, ckid: bytes, label: str, algorithm: Algorithm, public: Any, private: Any
    ) -> KeyInfo:
        raise NotImplementedError

    # -- the protection the token must enforce (hsm/protection.py) ----------------------

    def wrap_protection_enforced(self) -> bool:
        """Whether the token enforces what keeps keys in it (DPS 5.2.5): it refuses to
        wrap a CKA_WRAP_WITH_TRUSTED key under a key of the user's own, and refuses to
        let a user session mark a key CKA_TRUSTED. Tried on session objects, removed
        afterwards; a token lacking the mechanisms for the try is named."""
        session = self._live()
        with self._errors("try the wrap protection of"):
            public, private = session.generate_keypair(
                KeyType.RSA,
                1024,
                store=False,
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                public_template={Attribute.PUBLIC_EXPONENT: biginteger(PUBLIC_EXPONENT)},
                private_template={**PRIVATE_KEY_TEMPLATE, Attribute.TOKEN: False},
            )
            readable = session.generate_key(
                KeyType.AES,
                256,
                store=False,
                template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
            )
            try:
                return refuses(
                    lambda: readable.wrap_key(private, mechanism=Mechanism.AES_KEY_WRAP_PAD),
                    pkcs11.KeyNotWrappable,
                ) and refuses(
                    lambda: readable.__setitem__(Attribute.TRUSTED, True),
                    pkcs11.AttributeReadOnly,
                )
            finally:
                for obj in (readable, private, public):
                    obj.destroy()

    # -- the SMK ----------------------------------------------------------------------

    def wrap_private_key(self, key_id: str, smk_check: str) -> bytes:
        """The private key wrapped under the SMK (RFC 5649 AES key wrap with padding):
        the only form in which it leaves the token (DPS 5.2.5)."""
        key = self._key(key_id)
        smk = self._smk(smk_check)
        try:
            with self._errors("wrap", key_id):
                return bytes(smk.wrap_key(key.private, mechanism=Mechanism.AES_KEY_WRAP_PAD))
        except KeyStoreError as exc:
            if not isinstance(exc.__cause__, pkcs11.KeyNotWrappable):
                raise
            raise KeyStoreError(
                f"token '{self._label}' refuses to wrap key {key_id} under SMK {smk_check}: "
                "the SMK is not trusted (CKA_TRUSTED); make one as security officer "
                "(tldsec backup smk-create)"
            ) from exc

    def unwrap_private_key(self, wrapped: bytes, smk_check: str, *, key: KeyInfo) -> KeyInfo:
        """Recreate ``key`` in this token from its wrapped private half: the private key
        as every key here is (sensitive, signing only, wrappable for the next backup),
        its public half from ``key.public_key``. Refused if the id is taken, or if what
        was unwrapped is not the private half of that public key."""
        session = self._live()
        ckid = bytes.fromhex(key.key_id)
        with self._errors("look for", key.key_id):
            if list(session.get_objects({Attribute.ID: ckid})):
                raise KeyStoreError(
                    f"token '{self._label}' already holds a key with id {key.key_id}"
                )
        algorithm = check_stored_key(key.public_key, key.algorithm)
        smk = self._smk(smk_check)
        common = {Attribute.TOKEN: True, Attribute.ID: ckid, Attribute.LABEL: key.label}
        with self._errors("unwrap", key.key_id):
            private = smk.unwrap_key(
                ObjectClass.PRIVATE_KEY,
                _key_type(key),
                wrapped,
                id=ckid,
                label=key.label,
                mechanism=Mechanism.AES_KEY_WRAP_PAD,
                store=True,
                capabilities=MechanismFlag.SIGN,
                # python-pkcs11 would also set these, which a private key does not have
                template={
                    **PRIVATE_KEY_TEMPLATE,
                    Attribute.ENCRYPT: pkcs11.DEFAULT,
                    Attribute.VERIFY: pkcs11.DEFAULT,
                    Attribute.WRAP: pkcs11.DEFAULT,
                },
            )
            if not _is_private_half(private, key):
                private.destroy()
                raise KeyStoreError(
                    f"the wrapped key {key.key_id} is not the private half of its public key"
                )
            try:
                public = session.create_object(
                    {
                        **common,
                        Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                        Attribute.PRIVATE: False,
                        Attribute.VERIFY: True,
                        **_public_attributes(key),
                    }
                )
            except pkcs11.PKCS11Error:
                private.destroy()  # no half-restored key pair stays behind
                raise
        return self._finish_new_key(ckid, key.label, algorithm, public, private)

    def mac_under_smk(self, smk_check: str, data: bytes) -> tuple[bytes, bytes]:
        """HMAC-SHA256 of ``data`` (CKM_SHA256_HMAC) by a fresh key made in the token for
        it, and that key wrapped under the SMK: (wrapped MAC key, MAC). Only a token that
        holds the same SMK can check it (``mac_checks``)."""
        session = self._live()
        smk = self._smk(smk_check)
        with self._errors("make a MAC key under the Storage Master Key in"):
            key = session.generate_key(
                KeyType.GENERIC_SECRET,
                256,
                store=False,
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                template={**MAC_KEY_TEMPLATE, Attribute.SIGN: True},
            )
            try:
                wrapped = bytes(smk.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD))
                mac = bytes(key.sign(data, mechanism=Mechanism.SHA256_HMAC))
            finally:
                key.destroy()
        return wrapped, mac

    def mac_checks(self, smk_check: str, wrapped_key: bytes, data: bytes, mac: bytes) -> bool:
        """Whether ``mac`` is the HMAC of ``data`` by the key ``wrapped_key`` wraps under
        the SMK (``mac_under_smk``); False too if the wrapped key itself was changed."""
        smk = self._smk(smk_check)
        with self._errors("check a MAC under the Storage Master Key in"):
            try:
                key = smk.unwrap_key(
                    ObjectClass.SECRET_KEY,
                    KeyType.GENERIC_SECRET,
                    wrapped_key,
                    mechanism=Mechanism.AES_KEY_WRAP_PAD,
                    store=False,
                    capabilities=MechanismFlag.VERIFY,
                    template={**MAC_KEY_TEMPLATE, Attribute.SIGN: False},
                )
            except (pkcs11.WrappedKeyInvalid, pkcs11.EncryptedDataInvalid, pkcs11.GeneralError):
                # RFC 5649's integrity check failed: the wrapped key was changed (SoftHSM2
                # 2.6 answers CKR_GENERAL_ERROR for it; a failing device is refused too).
                return False
            try:
                return bool(key.verify(data, mac, mechanism=Mechanism.SHA256_HMAC))
            finally:
                key.destroy()

    def check_wrapped_key(self, wrapped: bytes, smk_check: str, *, key: KeyInfo) -> None:
        """Prove that ``wrapped`` restores ``key``: unwrapped under the SMK as a session
        object (gone when the session ends, removed at once here), it must be the
        private half of ``key.public_key`` and sign a challenge that key verifies."""
        check_stored_key(key.public_key, key.algorithm)
        smk = self._smk(smk_check)
        with self._errors("check the wrapped copy of", key.key_id):
            private = smk.unwrap_key(
                ObjectClass.PRIVATE_KEY,
                _key_type(key),
                wrapped,
                mechanism=Mechanism.AES_KEY_WRAP_PAD,
                store=False,
                capabilities=MechanismFlag.SIGN,
                template={
                    **PRIVATE_KEY_TEMPLATE,
                    Attribute.TOKEN: False,
                    Attribute.ENCRYPT: pkcs11.DEFAULT,
                    Attribute.VERIFY: pkcs11.DEFAULT,
                    Attribute.WRAP: pkcs11.DEFAULT,
                },
            )
            try:
                if not _is_private_half(private, key):
                    raise KeyStoreError(
                        f"the wrapped copy of key {key.key_id} is not its private half"
                    )
                challenge = b"tldsec backup check " + secrets.token_bytes(16)
                signature = _sign(private, key, challenge)
            finally:
                private.destroy()
        if not verifies(key.public_key, key.algorithm, challenge, signature):
            raise KeyStoreError(f"the wrapped copy of key {key.key_id} does not sign like it")

    def _smks(self, session: Any, check: str) -> list[Any]:
        return list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.ID: bytes.fromhex(check)}
            )
        )

    def _smk(self, check: str) -> Any:
        with self._errors("find the Storage Master Key"):
            found = self._smks(self._live(), check)
        if not found:
            raise KeyStoreError(
                f"token '{self._label}' holds no Storage Master Key {check}: install it "
                "from its holders' shares first (tldsec backup smk-install)"
            )
        return found[0]


def _key_type(key: KeyInfo) -> KeyType:
    return KeyType.EC if is_ecdsa(key.algorithm) else KeyType.RSA


def _sign(private: Any, key: KeyInfo, data: bytes) -> bytes:
    """A signature in RRSIG form by a private key object (CKM_ECDSA signs the digest)."""
    if is_ecdsa(key.algorithm):
        digest = hashlib.sha256(data).digest()
        return bytes(private.sign(digest, mechanism=MECHANISMS[key.algorithm]))
    return bytes(private.sign(data, mechanism=MECHANISMS[key.algorithm]))


def _is_private_half(private: Any, key: KeyInfo) -> bool:
    """Whether an unwrapped private key object belongs to ``key.public_key``: the RSA
    modulus, or for P-256 (whose private object carries no point) a signature over a
    fresh challenge that the public key verifies."""
    if is_ecdsa(key.algorithm):
        challenge = b"tldsec unwrap check " + secrets.token_bytes(16)
        return verifies(key.public_key, key.algorithm, challenge, _sign(private, key, challenge))
    _, modulus = parse_dnskey_public_key(key.public_key)
    return int.from_bytes(private[Attribute.MODULUS], "big") == modulus


def _public_attributes(key: KeyInfo) -> dict[Attribute, Any]:
    """The key-type attributes of the public key object of ``key``."""
    if is_ecdsa(key.algorithm):
        return {
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: bytes(encode_named_curve_parameters(eckey.CURVE_NAME)),
            Attribute.EC_POINT: eckey.ec_point_attribute(key.public_key),
        }
    exponent, modulus = parse_dnskey_public_key(key.public_key)
    return {
        Attribute.KEY_TYPE: KeyType.RSA,
        Attribute.MODULUS: biginteger(modulus),
        Attribute.PUBLIC_EXPONENT: biginteger(exponent),
    }
