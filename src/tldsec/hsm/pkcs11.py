"""Pkcs11KeyStore: key pairs inside a PKCS#11 token (SoftHSM2 by default, or a vendor HSM).

Private keys are generated in the token (DPS 5.1.1, CKA_LOCAL) as CKA_SENSITIVE and
CKA_PRIVATE, so their private components can never be read in clear; they are
CKA_EXTRACTABLE with CKA_WRAP_WITH_TRUSTED, so the token wraps them only under a trusted
key, and the only trusted key is the Storage Master Key a Security Officer made
(``hsm/smk.py``): they leave the token for backup under it and under nothing else (DPS
5.2.4, 5.2.5, 5.2.7). A key pair is found by its CKA_ID (the key id is its hex); the
DNSSEC algorithm, which key material does not carry, is kept beside it in a CKO_DATA
object of application "tldsec" labelled with the key id.

RSA keys (algorithms 8, 10) sign with CKM_SHA256_RSA_PKCS or CKM_SHA512_RSA_PKCS: the
token hashes. ECDSA P-256 keys (algorithm 13, RFC 6605) are made on the named curve
secp256r1 and sign with CKM_ECDSA over the SHA-256 digest computed here (SoftHSM2 2.6
has no CKM_ECDSA_SHA256); the token returns r | s, the RRSIG form (PKCS#11 v2.40 2.3.6).


What the store does with the SMK (wrap, unwrap, MAC, check) is ``hsm/wrapping.py``; the
templates of the objects it makes are ``hsm/p11objects.py``.

Each store has its own session on the token; ``p11lib`` shares the module and the login
among the stores of a process and re-opens sessions after fork or re-initialisation.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from tldsec.errors import KeyNotFound, KeyStoreError, KeyStoreLoginError, KeyStoreUnavailable
from tldsec.hsm import eckey, p11lib
from tldsec.hsm.base import KeyInfo, KeyStoreSpec
from tldsec.hsm.keyalg import check_key_request, is_ecdsa
from tldsec.hsm.p11errors import Where, pkcs11_errors
from tldsec.hsm.p11objects import MECHANISMS, PRIVATE_KEY_TEMPLATE, biginteger
from tldsec.hsm.rsakey import PUBLIC_EXPONENT, dnskey_public_key
from tldsec.hsm.wrapping import SmkWrapping
from tldsec.policy import Algorithm

APPLICATION = "tldsec"  # CKA_APPLICATION of the metadata objects
_ID_BYTES = 16


@dataclass(frozen=True, slots=True)
class KeyProtection:
    """The protection attributes of a private key, as the token reports them."""

    sensitive: bool  # CKA_SENSITIVE: private components never readable in clear
    always_sensitive: bool  # CKA_ALWAYS_SENSITIVE: and never were
    extractable: bool  # CKA_EXTRACTABLE: may leave the token, wrapped only
    never_extractable: bool  # CKA_NEVER_EXTRACTABLE
    private: bool  # CKA_PRIVATE: visible only after login
    token: bool  # CKA_TOKEN: persistent object
    sign: bool  # CKA_SIGN
    wrap_with_trusted: bool  # CKA_WRAP_WITH_TRUSTED: wrapped only under a trusted key
    local: bool  # CKA_LOCAL: generated in this token


@dataclass(slots=True)
class _Key:
    info: KeyInfo
    private: Any  # pkcs11.PrivateKey
    mechanism: Mechanism
    prehash: bool  # CKM_ECDSA signs a digest: SHA-256 of the data first (RFC 6605 2)

    def sign(self, data: bytes) -> bytes:
        message = hashlib.sha256(data).digest() if self.prehash else data
        return bytes(self.private.sign(message, mechanism=self.mechanism))


def ec_parameters() -> bytes:
    """CKA_EC_PARAMS of P-256: the named curve's OID, DER (PKCS#11 v2.40 2.3.3)."""
    return bytes(encode_named_curve_parameters(eckey.CURVE_NAME))


@p11lib.serialized_methods
class Pkcs11KeyStore(SmkWrapping):
    """A logged-in session on one token; signs with keys that stay inside it."""

    def __init__(self, spec: KeyStoreSpec) -> None:
        if spec.module is None:
            raise KeyStoreUnavailable(
                "no PKCS#11 module configured ([keystore] module) and SoftHSM2 was not found"
            )
        if not spec.token_label:
            raise KeyStoreUnavailable("no token label configured ([keystore] token_label)")
        if spec.pin is None:
            raise KeyStoreLoginError(f"no PIN given for token '{spec.token_label}'")
        self._spec = spec
        self._label: str = spec.token_label
        self._pin: str = spec.pin
        self._user: p11lib.UserSession | None = None
        self._keys: dict[str, _Key] = {}
        self._closed = False
        self._connect()

    @property
    def spec(self) -> KeyStoreSpec:
        return self._spec

    @property
    def token_label(self) -> str:
        return self._label

    # -- the KeyStore protocol ------------------------------------------------------

    def generate_key(self, *, label: str, algorithm: Algorithm, bits: int) -> KeyInfo:
        """A key pair made inside the token, the private key sensitive: RSA with exponent
        65537, or ECDSA on P-256 with the same protection attributes."""
        alg = check_key_request(algorithm, bits)
        session = self._live()
        ckid = secrets.token_bytes(_ID_BYTES)
        if is_ecdsa(alg):
            with self._errors("generate"):
                params = session.create_domain_parameters(
                    KeyType.EC, {Attribute.EC_PARAMS: ec_parameters()}, local=True
                )
                public, private = params.generate_keypair(
                    id=ckid,
                    label=label,
                    store=True,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    public_template={Attribute.PRIVATE: False},
                    private_template=PRIVATE_KEY_TEMPLATE,
                )
            return self._finish_new_key(ckid, label, alg, public, private)
        with self._errors("generate"):
            public, private = session.generate_keypair(
                KeyType.RSA,
                bits,
                id=ckid,
                label=label,
                store=True,
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                public_template={
                    Attribute.PUBLIC_EXPONENT: biginteger(PUBLIC_EXPONENT),
                    Attribute.PRIVATE: False,
                },
                private_template=PRIVATE_KEY_TEMPLATE,
            )
        return self._finish_new_key(ckid, label, alg, public, private)

    def get_key(self, key_id: str) -> KeyInfo:
        return self._key(key_id).info

    def list_keys(self) -> list[KeyInfo]:
        session = self._live()
        with self._errors("list keys"):
            ids = {
                bytes(obj[Attribute.ID])
                for key_type in (KeyType.RSA, KeyType.EC)
                for obj in session.get_objects(
                    {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: key_type}
                )
            }
        infos = [self._key(ckid.hex()).info for ckid in ids if ckid]
        return sorted(infos, key=lambda i: (i.label, i.key_id))

    def sign(self, key_id: str, data: bytes) -> bytes:
        """Sign inside the token: RSASSA-PKCS1-v1_5 (CKM_SHA256_RSA_PKCS or
        CKM_SHA512_RSA_PKCS), or CKM_ECDSA over the SHA-256 digest (r | s)."""
        key = self._key(key_id)
        with self._errors("sign", key_id):
            return key.sign(data)

    def sign_many(self, key_id: str, items: Sequence[bytes]) -> list[bytes]:
        """Sign each item in this session, looking the key up once for the batch."""
        key = self._key(key_id)
        if not key.prehash:
            sign, mechanism = key.private.sign, key.mechanism
            with self._errors("sign", key_id):
                return [bytes(sign(item, mechanism=mechanism)) for item in items]
        with self._errors("sign", key_id):
            return [key.sign(item) for item in items]

    def close(self) -> None:
        """Close this store's session; the last store of a token logs it out."""
        if self._closed:
            return
        self._closed = True
        user, self._user, self._keys = self._user, None, {}
        if user is not None:
            p11lib.close_user_session(user)

    def __enter__(self) -> Pkcs11KeyStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- beyond the protocol --------------------------------------------------------

    def key_protection(self, key_id: str) -> KeyProtection:
        """What the token says about how the private key is protected (for audits)."""
        key = self._key(key_id)
        names = (
            Attribute.SENSITIVE,
            Attribute.ALWAYS_SENSITIVE,
            Attribute.EXTRACTABLE,
            Attribute.NEVER_EXTRACTABLE,
            Attribute.PRIVATE,
            Attribute.TOKEN,
            Attribute.SIGN,
            Attribute.WRAP_WITH_TRUSTED,
            Attribute.LOCAL,
        )
        with self._errors("read attributes", key_id):
            attrs = key.private.get_attributes(list(names))
        return KeyProtection(*(bool(attrs.get(name, False)) for name in names))

    def import_rsa_private_key(
        self, numbers: rsa.RSAPrivateNumbers, *, label: str, algorithm: Algorithm
    ) -> KeyInfo:
        """Create a key pair from known numbers: for test vectors only (RFC 5702 6.1).

        A key that existed outside the token breaks DPS 5.1.1; production keys are
        generated inside it. The imported private key is still marked sensitive.
        """
        pub = numbers.public_numbers
        alg = check_key_request(algorithm, pub.n.bit_length())
        session = self._live()
        ckid = secrets.token_bytes(_ID_BYTES)
        common = {Attribute.TOKEN: True, Attribute.ID: ckid, Attribute.LABEL: label}
        with self._errors("import"):
            private = session.create_object(
                {
                    **PRIVATE_KEY_TEMPLATE,
                    **common,
                    Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                    Attribute.KEY_TYPE: KeyType.RSA,
                    Attribute.MODULUS: biginteger(pub.n),
                    Attribute.PUBLIC_EXPONENT: biginteger(pub.e),
                    Attribute.PRIVATE_EXPONENT: biginteger(numbers.d),
                    Attribute.PRIME_1: biginteger(numbers.p),
                    Attribute.PRIME_2: biginteger(numbers.q),
                    Attribute.EXPONENT_1: biginteger(numbers.dmp1),
                    Attribute.EXPONENT_2: biginteger(numbers.dmq1),
                    Attribute.COEFFICIENT: biginteger(numbers.iqmp),
                }
            )
            public = session.create_object(
                {
                    **common,
                    Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                    Attribute.KEY_TYPE: KeyType.RSA,
                    Attribute.PRIVATE: False,
                    Attribute.VERIFY: True,
                    Attribute.MODULUS: biginteger(pub.n),
                    Attribute.PUBLIC_EXPONENT: biginteger(pub.e),
                }
            )
        return self._finish_new_key(ckid, label, alg, public, private)

    def delete_key(self, key_id: str) -> None:
        """Destroy the key pair and its metadata in the token (irreversible)."""
        self._key(key_id)
        session = self._live()
        ckid = bytes.fromhex(key_id)
        with self._errors("delete", key_id):
            doomed = [
                *session.get_objects({Attribute.ID: ckid}),
                *self._metadata_objects(session, key_id),
            ]
            for obj in doomed:
                obj.destroy()
        self._keys.pop(key_id, None)

    # -- inside ---------------------------------------------------------------------

    def _connect(self) -> None:
        """Open our own session on the token (logging it in if no other store has)."""
        spec = self._spec
        assert spec.module is not None
        self._user = p11lib.open_user_session(
            spec.module, spec.softhsm2_conf, self._label, self._pin
        )
        self._keys = {}

    def _live(self) -> Any:
        """Our session, re-opened if the module was re-initialised since (fork, new token)."""
        if self._closed:
            raise KeyStoreError(f"the key store on token '{self._label}' is closed")
        if self._user is None or not self._user.current:
            self._connect()
        assert self._user is not None
        return self._user.session

    def _errors(self, op: str, key_id: str | None = None) -> Any:
        module = str(self._spec.module)
        return pkcs11_errors(Where(op, module, self._label, key_id))

    def _key(self, key_id: str) -> _Key:
        session = self._live()  # first: a re-opened session empties the cache
        cached = self._keys.get(key_id)
        if cached is not None:
            return cached
        try:
            ckid = bytes.fromhex(key_id)
        except ValueError:
            raise KeyNotFound(f"no key with id {key_id!r} in token '{self._label}'") from None
        with self._errors("find key", key_id):
            privates = list(
                session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: ckid})
            )
            publics = list(
                session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: ckid})
            )
            if not privates:
                raise KeyNotFound(f"no key with id {key_id} in token '{self._label}'")
            if len(privates) > 1:
                raise KeyStoreError(
                    f"{len(privates)} private keys have id {key_id} in token '{self._label}'"
                )
            private = privates[0]
            key_type = private.key_type
            if key_type not in (KeyType.RSA, KeyType.EC):
                raise KeyStoreError(
                    f"key {key_id} in token '{self._label}' is neither an RSA nor an EC key"
                )
            label = str(private[Attribute.LABEL])
            algorithm = self._algorithm_of(session, key_id, key_type)
            if key_type == KeyType.EC:
                bits, public_key = self._ec_public(key_id, private, publics)
            else:
                # The public key object if there is one; an RSA private key object
                # carries the modulus and public exponent too (PKCS#11 v2.40 2.1.3).
                holder = publics[0] if publics else private
                modulus = int.from_bytes(holder[Attribute.MODULUS], "big")
                exponent = int.from_bytes(holder[Attribute.PUBLIC_EXPONENT], "big")
                bits, public_key = modulus.bit_length(), dnskey_public_key(exponent, modulus)
        if is_ecdsa(algorithm) != (key_type == KeyType.EC):
            raise KeyStoreError(
                f"key {key_id} in token '{self._label}' is a {key_type.name} key, which "
                f"algorithm {int(algorithm)} does not sign with"
            )
        info = KeyInfo(
            key_id=key_id,
            label=label,
            algorithm=algorithm,
            bits=bits,
            public_key=public_key,
        )
        key = _Key(info, private, MECHANISMS[algorithm], is_ecdsa(algorithm))
        self._keys[key_id] = key
        return key

    def _metadata_objects(self, session: Any, key_id: str) -> list[Any]:
        return list(
            session.get_objects(
                {
                    Attribute.CLASS: ObjectClass.DATA,
                    Attribute.APPLICATION: APPLICATION,
                    Attribute.LABEL: key_id,
                }
            )
        )

    def _ec_public(self, key_id: str, private: Any, publics: list[Any]) -> tuple[int, bytes]:
        """(bits, DNSKEY field) of an EC key pair: P-256 only, from its public object."""
        if bytes(private[Attribute.EC_PARAMS]) != ec_parameters():
            raise KeyStoreError(
                f"EC key {key_id} in token '{self._label}' is not on P-256 (RFC 6605)"
            )
        if not publics:
            raise KeyStoreError(
                f"EC key {key_id} in token '{self._label}' has no public key object "
                "(CKA_EC_POINT), so its DNSKEY cannot be made"
            )
        try:
            field = eckey.field_from_ec_point(bytes(publics[0][Attribute.EC_POINT]))
        except ValueError as exc:
            raise KeyStoreError(f"EC key {key_id} in token '{self._label}': {exc}") from exc
        return eckey.P256_BITS, field

    def _algorithm_of(self, session: Any, key_id: str, key_type: KeyType) -> Algorithm:
        found = self._metadata_objects(session, key_id)
        if not found:
            # A key pair made by another tool (a vendor ceremony): RSA/SHA-256, the
            # algorithm of the DPS (6.1), or for an EC key ECDSAP256SHA256.
            if key_type == KeyType.EC:
                return Algorithm.ECDSAP256SHA256
            return Algorithm.RSASHA256
        try:
            meta = json.loads(bytes(found[0][Attribute.VALUE]))
            return Algorithm(int(meta["algorithm"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyStoreError(
                f"key {key_id} in token '{self._label}': unreadable metadata object: {exc}"
            ) from exc

    def _finish_new_key(
        self, ckid: bytes, label: str, algorithm: Algorithm, public: Any, private: Any
    ) -> KeyInfo:
        """Store the algorithm beside a new key pair; remove the pair if that fails."""
        key_id = ckid.hex()
        session = self._live()
        try:
            with self._errors("store metadata of", key_id):
                session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.DATA,
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: False,
                        Attribute.APPLICATION: APPLICATION,
                        Attribute.LABEL: key_id,
                        Attribute.VALUE: json.dumps({"algorithm": int(algorithm)}).encode(),
                    }
                )
        except KeyStoreError:
            with self._errors("remove the half-made key", key_id):
                private.destroy()
                public.destroy()
            raise
        return self._key(key_id).info
