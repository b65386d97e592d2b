"""A key-store key that dnspython's ``dns.dnssec.sign`` can sign with.

``dns.dnssec.sign`` accepts any ``dns.dnssecalgs`` private key object and calls its
``sign(data, verify, deterministic)`` with the RRSIG signed data it built itself (RFC
4034 3.1.8.1). ``HsmPrivateKey`` passes that data to ``KeyStore.sign``, so the private
key never leaves its store; this is how the verifier compares our signer's output with
a second, independent construction of the signed data (DPS 6.6). ECDSA P-256 keys
(algorithm 13) sign through the store too; their signatures are randomised, so a caller
compares them by verifying, not octet for octet.
"""

from __future__ import annotations

from typing import Any

from dns.dnssecalgs.cryptography import CryptographyPublicKey
from dns.dnssecalgs.ecdsa import PrivateECDSAP256SHA256
from dns.dnssecalgs.rsa import PrivateRSASHA256, PrivateRSASHA512

from tldsec.errors import KeyStoreError
from tldsec.hsm import eckey, rsakey
from tldsec.hsm.base import KeyInfo, KeyStore
from tldsec.hsm.keyalg import is_ecdsa
from tldsec.policy import Algorithm


class _StoreKey:
    """What each algorithm class adds to dnspython's private key: signing in a store."""

    expected_algorithm: Algorithm
    public_cls: Any  # set by the dnspython class it is mixed into

    def __init__(self, store: KeyStore, key_id: str, info: KeyInfo | None = None) -> None:
        # Deliberately not dnspython's __init__: there is no private key object to hold.
        self.store = store
        self.key_id = key_id
        self.info = info if info is not None else store.get_key(key_id)
        if self.info.algorithm != self.expected_algorithm:
            raise KeyStoreError(
                f"key {key_id} is algorithm {int(self.info.algorithm)}, "
                f"not {int(self.expected_algorithm)}: use hsm_private_key()"
            )
        field = self.info.public_key
        public = (
            eckey.public_key_from_field(field)
            if is_ecdsa(self.info.algorithm)
            else rsakey.public_key_from_field(field)
        )
        self._public: CryptographyPublicKey = self.public_cls(key=public)

    def sign(self, data: bytes, verify: bool = False, deterministic: bool = True) -> bytes:
        """Sign in the store (RSASSA-PKCS1-v1_5 is deterministic; ECDSA is not)."""
        signature = self.store.sign(self.key_id, data)
        if verify:
            self._public.verify(signature, data)
        return signature

    def public_key(self) -> CryptographyPublicKey:
        return self._public

    @classmethod
    def from_pem(cls, private_pem: bytes, password: bytes | None = None) -> Any:
        raise TypeError("an HSM key is opened from its store, not from PEM")

    def to_pem(self, password: bytes | None = None) -> bytes:
        raise TypeError("an HSM private key cannot be exported")


class HsmPrivateKey(_StoreKey, PrivateRSASHA256):
    """An RSA/SHA-256 (algorithm 8) key held by a ``KeyStore``, for ``dns.dnssec.sign``."""

    expected_algorithm = Algorithm.RSASHA256


class HsmPrivateKeySHA512(_StoreKey, PrivateRSASHA512):
    """The RSA/SHA-512 (algorithm 10) twin of ``HsmPrivateKey``."""

    expected_algorithm = Algorithm.RSASHA512


class HsmPrivateKeyECDSAP256(_StoreKey, PrivateECDSAP256SHA256):
    """The ECDSA P-256/SHA-256 (algorithm 13, RFC 6605) twin of ``HsmPrivateKey``."""

    expected_algorithm = Algorithm.ECDSAP256SHA256


def hsm_private_key(
    store: KeyStore, key_id: str
) -> HsmPrivateKey | HsmPrivateKeySHA512 | HsmPrivateKeyECDSAP256:
    """The dnspython private key object for a store key, of its algorithm's class."""
    info = store.get_key(key_id)
    if info.algorithm == Algorithm.RSASHA512:
        return HsmPrivateKeySHA512(store, key_id, info)
    if info.algorithm == Algorithm.ECDSAP256SHA256:
        return HsmPrivateKeyECDSAP256(store, key_id, info)
    return HsmPrivateKey(store, key_id, info)
