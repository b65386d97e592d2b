"""The audit key inside a PKCS#11 token: Ed25519 (CKM_EDDSA), generated non-extractable.

Talks to python-pkcs11 directly, so the audit log does not depend on the zone key store.
SoftHSM2 2.6 on Debian is built with EdDSA (CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA);
``token_supports_eddsa`` asks the token, and ``tldsec.audit.config`` falls back to the
on-disk key when it says no (docs/audit.md).

PKCS#11 keeps one login per token and process (PKCS#11 v2.40 5.6): if other code in the
process has logged the token in, this signer shares that login and never logs it out;
if it logged in itself, ``close`` logs out.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pkcs11
import pkcs11.exceptions as p11
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from tldsec.audit.signing import key_id_of
from tldsec.errors import AuditError

DEFAULT_KEY_LABEL = "tldsec-audit"
ED25519_OID = "1.3.101.112"  # RFC 8410 3: id-Ed25519
_RETRYABLE = (p11.SessionHandleInvalid, p11.SessionClosed, p11.DeviceRemoved)


def token_supports_eddsa(token: Any) -> bool:
    """Whether the token can generate Ed25519 keys and sign with them."""
    mechanisms = token.slot.get_mechanisms()
    return Mechanism.EDDSA in mechanisms and Mechanism.EC_EDWARDS_KEY_PAIR_GEN in mechanisms


def _load(module: Path, softhsm2_conf: Path | None) -> Any:
    if not module.is_file():
        raise AuditError(f"PKCS#11 module {module} does not exist")
    if softhsm2_conf is not None and "SOFTHSM2_CONF" not in os.environ:
        # SoftHSM2 reads its configuration when the module initialises.
        os.environ["SOFTHSM2_CONF"] = str(softhsm2_conf)
    try:
        return pkcs11.lib(str(module))
    except p11.PKCS11Error as exc:
        raise AuditError(f"cannot load PKCS#11 module {module}: {exc!r}") from exc


def open_token(module: Path, token_label: str, softhsm2_conf: Path | None = None) -> Any:
    lib = _load(module, softhsm2_conf)
    try:
        return lib.get_token(token_label=token_label)
    except (p11.NoSuchToken, p11.MultipleTokensReturned) as exc:
        raise AuditError(
            f"no single token labelled {token_label!r} in PKCS#11 module {module}"
        ) from exc


def _ec_point_to_raw(point: bytes) -> bytes:
    # PKCS#11 3.0 2.3.5: CKA_EC_POINT of an Edwards key is the DER OCTET STRING of the
    # 32-byte public key (RFC 8032 5.1.5); some modules return the raw bytes.
    if len(point) == 34 and point[:2] == b"\x04\x20":
        return point[2:]
    if len(point) == 32:
        return point
    raise AuditError(f"unexpected CKA_EC_POINT of {len(point)} bytes for an Ed25519 key")


class Pkcs11AuditSigner:
    """Signs with the Ed25519 audit key labelled ``key_label`` in a PKCS#11 token."""

    def __init__(
        self,
        *,
        module: Path,
        token_label: str,
        pin: str,
        key_label: str = DEFAULT_KEY_LABEL,
        softhsm2_conf: Path | None = None,
    ) -> None:
        self._module = module
        self._token_label = token_label
        self._pin = pin
        self._key_label = key_label
        self._softhsm2_conf = softhsm2_conf
        self._lock = threading.Lock()
        self._session: Any = None
        self._logged_in = False
        self._private: Any = None
        self._open()
        self._public = self._read_public_key()
        self._key_id = key_id_of(self._public)

    @classmethod
    def create(
        cls,
        *,
        module: Path,
        token_label: str,
        pin: str,
        key_label: str = DEFAULT_KEY_LABEL,
        softhsm2_conf: Path | None = None,
    ) -> Pkcs11AuditSigner:
        """Generate the audit key pair in the token; refuses if the label is taken."""
        token = open_token(module, token_label, softhsm2_conf)
        if not token_supports_eddsa(token):
            raise AuditError(
                f"token {token_label!r} does not offer CKM_EDDSA: keep the audit key on disk"
            )
        session, _ = _open_session(token, pin, rw=True)
        try:
            existing = list(session.get_objects({Attribute.LABEL: key_label}))
            if existing:
                raise AuditError(
                    f"token {token_label!r} already holds objects labelled {key_label!r}"
                )
            params = encode_named_curve_parameters(ED25519_OID)
            key_id = os.urandom(16)
            session.generate_keypair(
                KeyType.EC_EDWARDS,
                mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                store=True,
                public_template={
                    Attribute.EC_PARAMS: params,
                    Attribute.LABEL: key_label,
                    Attribute.ID: key_id,
                    Attribute.TOKEN: True,
                    Attribute.VERIFY: True,
                },
                private_template={
                    Attribute.LABEL: key_label,
                    Attribute.ID: key_id,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,  # DPS 5.2: never leaves the module
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                },
            )
        except p11.PKCS11Error as exc:
            raise AuditError(f"generating the audit key in token {token_label!r}: {exc!r}") from exc
        finally:
            _close_session(session)
        return cls(
            module=module,
            token_label=token_label,
            pin=pin,
            key_label=key_label,
            softhsm2_conf=softhsm2_conf,
        )

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def key_label(self) -> str:
        return self._key_label

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        with self._lock:
            try:
                return bytes(self._private.sign(message, mechanism=Mechanism.EDDSA))
            except _RETRYABLE:
                # The module was re-initialised under us (another store restarted it).
                self._open()
            except p11.PKCS11Error as exc:
                raise AuditError(f"the HSM refused to sign an audit checkpoint: {exc!r}") from exc
            try:
                return bytes(self._private.sign(message, mechanism=Mechanism.EDDSA))
            except p11.PKCS11Error as exc:
                raise AuditError(f"the HSM refused to sign an audit checkpoint: {exc!r}") from exc

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                _close_session(self._session)
                self._session = None

    def _open(self) -> None:
        lib = _load(self._module, self._softhsm2_conf)
        if not lib.initialized:
            lib.initialize()
        token = open_token(self._module, self._token_label, self._softhsm2_conf)
        self._session, self._logged_in = _open_session(token, self._pin, rw=False)
        try:
            self._private = self._session.get_key(
                object_class=ObjectClass.PRIVATE_KEY,
                key_type=KeyType.EC_EDWARDS,
                label=self._key_label,
            )
        except (p11.NoSuchKey, p11.MultipleObjectsReturned) as exc:
            _close_session(self._session)
            self._session = None
            raise AuditError(
                f"no single Ed25519 private key labelled {self._key_label!r} in token "
                f"{self._token_label!r}: run 'tldsec audit init'"
            ) from exc

    def _read_public_key(self) -> Ed25519PublicKey:
        try:
            public = self._session.get_key(
                object_class=ObjectClass.PUBLIC_KEY,
                key_type=KeyType.EC_EDWARDS,
                label=self._key_label,
            )
            point = bytes(public[Attribute.EC_POINT])
        except p11.PKCS11Error as exc:
            raise AuditError(
                f"cannot read the public audit key {self._key_label!r}: {exc!r}"
            ) from exc
        return Ed25519PublicKey.from_public_bytes(_ec_point_to_raw(point))


def _open_session(token: Any, pin: str, *, rw: bool) -> tuple[Any, bool]:
    """A session that can use private keys, and whether it logged in itself."""
    try:
        return token.open(user_pin=pin, rw=rw), True
    except p11.UserAlreadyLoggedIn:
        # Other code in this process holds the login (PKCS#11 v2.40 5.6); share it.
        return token.open(rw=rw), False
    except (p11.PinIncorrect, p11.PinLocked, p11.PinInvalid, p11.PinLenRange) as exc:
        raise AuditError(f"login to token {token.label!r} failed: {type(exc).__name__}") from exc
    except p11.PKCS11Error as exc:
        raise AuditError(f"cannot open a session on token {token.label!r}: {exc!r}") from exc


def _close_session(session: Any) -> None:
    # python-pkcs11 logs out only a session that logged in itself: one opened without a
    # PIN (sharing another login) closes without logging the token out.
    try:
        session.close()
    except p11.PKCS11Error as exc:
        raise AuditError(f"closing the audit key session: {exc!r}") from exc
