"""The audit key inside a PKCS#11 token: Ed25519 (CKM_EDDSA), generated non-extractable.

SoftHSM2 2.6 on Debian is built with EdDSA (CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA);
``token_supports_eddsa`` asks the token, and ``tldsec.audit.config`` keeps the key on
disk when it says no (docs/audit.md).

The audit key usually sits in the same token as the zone keys, used by the same process
(a cycle signs the zone, then an audit checkpoint). PKCS#11 has one login per token and
process (PKCS#11 v2.40 5.6), so this signer shares the module, the token and the login
through ``tldsec.hsm.p11lib`` as the key stores do, and opens a session of its own. Only
python-pkcs11 calls are made here; the zone ``KeyStore`` is not used.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pkcs11.exceptions as p11
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from tldsec.audit.signing import key_id_of
from tldsec.errors import AuditError
from tldsec.hsm import p11lib

DEFAULT_KEY_LABEL = "tldsec-audit"
ED25519_OID = "1.3.101.112"  # RFC 8410 3: id-Ed25519


def token_supports_eddsa(token: Any) -> bool:
    """Whether the token can generate Ed25519 keys and sign with them."""
    mechanisms = token.slot.get_mechanisms()
    return Mechanism.EDDSA in mechanisms and Mechanism.EC_EDWARDS_KEY_PAIR_GEN in mechanisms


def module_supports_eddsa(
    module: Path, token_label: str, softhsm2_conf: Path | None, pin: str | None = None
) -> bool:
    """Ask the token itself (no login needed to list mechanisms), under the SoftHSM2
    lock every opening takes (``p11lib.softhsm_lock``): SoftHSM2 fails a token looked up
    while another thread or process logs in to it (GeneralError), as it did when
    ``tldsec serve`` opened the audit log while it activated the HSM. With the PIN, a
    token whose record a kill emptied is repaired first (``p11lib.find_token``)."""
    with p11lib.softhsm_lock(softhsm2_conf):
        entry = p11lib.attach(module, softhsm2_conf)
        return token_supports_eddsa(p11lib.find_token(entry, token_label, pin))


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
        self._entry: p11lib.Module | None = None
        self._generation = -1
        self._slot = -1
        self._session: Any = None
        self._private: Any = None
        self._closed = False
        with p11lib.calls():  # python-pkcs11 initialises without locking (C_Initialize(NULL))
            self._connect()
            self._public = self._read_public_key()
        self._key_id = key_id_of(self._public)

    @classmethod
    @p11lib.serialized
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
        entry = p11lib.attach(module, softhsm2_conf)
        token = p11lib.find_token(entry, token_label, pin)
        if not token_supports_eddsa(token):
            raise AuditError(
                f"token {token_label!r} does not offer CKM_EDDSA: keep the audit key on disk"
            )
        p11lib.login(entry, token, pin)
        try:
            session = token.open(rw=True)  # shares the login (PKCS#11 v2.40 5.6)
            try:
                if list(session.get_objects({Attribute.LABEL: key_label})):
                    raise AuditError(
                        f"token {token_label!r} already holds objects labelled {key_label!r}"
                    )
                ckid = secrets.token_bytes(16)
                session.generate_keypair(
                    KeyType.EC_EDWARDS,
                    mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                    store=True,
                    public_template={
                        Attribute.EC_PARAMS: encode_named_curve_parameters(ED25519_OID),
                        Attribute.LABEL: key_label,
                        Attribute.ID: ckid,
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: False,
                        Attribute.VERIFY: True,
                    },
                    private_template={
                        Attribute.LABEL: key_label,
                        Attribute.ID: ckid,
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,  # DPS 5.2: never leaves the module
                        Attribute.EXTRACTABLE: False,
                        Attribute.SIGN: True,
                    },
                )
            finally:
                session.close()
        except p11.PKCS11Error as exc:
            raise AuditError(f"generating the audit key in token {token_label!r}: {exc!r}") from exc
        finally:
            p11lib.logout(entry, token.slot.slot_id)
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
        with p11lib.calls():  # no C_Finalize of another thread in the middle
            if self._closed:
                raise AuditError("the audit key session is closed")
            if self._entry is None or not self._current(self._entry):
                # The module was re-initialised (fork, a new token): reopen our session.
                self._connect()
            try:
                return bytes(self._private.sign(message, mechanism=Mechanism.EDDSA))
            except p11.PKCS11Error as exc:
                raise AuditError(f"the HSM refused to sign an audit checkpoint: {exc!r}") from exc

    def close(self) -> None:
        with p11lib.calls():  # no C_Finalize of another thread in the middle
            if self._closed:
                return
            self._closed = True
            entry = self._entry
            if entry is None or not self._current(entry):
                return
            try:
                self._session.close()
            except p11.PKCS11Error as exc:
                raise AuditError(f"closing the audit key session: {exc!r}") from exc
            finally:
                p11lib.logout(entry, self._slot)

    def _current(self, entry: p11lib.Module) -> bool:
        return entry.current and entry.generation == self._generation

    def _connect(self) -> None:
        # Under the SoftHSM2 lock every opening takes: a token read while another process
        # logs in to it can come without its objects (NoSuchKey), and SoftHSM2 keeps that
        # view in this process ('tldsec serve' beside its EPP workers).
        with p11lib.softhsm_lock(self._softhsm2_conf):
            self._connect_locked()

    def _connect_locked(self) -> None:
        entry = p11lib.attach(self._module, self._softhsm2_conf)
        token = p11lib.find_token(entry, self._token_label, self._pin)
        p11lib.login(entry, token, self._pin)
        try:
            session = token.open()  # read-only, sharing the token's login
            try:
                private = session.get_key(
                    object_class=ObjectClass.PRIVATE_KEY,
                    key_type=KeyType.EC_EDWARDS,
                    label=self._key_label,
                )
            except BaseException:
                session.close()
                raise
        except (p11.NoSuchKey, p11.MultipleObjectsReturned) as exc:
            p11lib.logout(entry, token.slot.slot_id)
            raise AuditError(
                f"no single Ed25519 private key labelled {self._key_label!r} in token "
                f"{self._token_label!r}: run 'tldsec audit init'"
            ) from exc
        except p11.PKCS11Error as exc:
            p11lib.logout(entry, token.slot.slot_id)
            raise AuditError(
                f"cannot open the audit key in {self._token_label!r}: {exc!r}"
            ) from exc
        self._entry, self._generation = entry, entry.generation
        self._slot, self._session, self._private = token.slot.slot_id, session, private

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
