"""The KeyStore protocol every backend implements, and the spec that opens one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tldsec.policy import Algorithm


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key pair as the store knows it; the public half in DNSKEY form.

    ``public_key`` is the DNSKEY Public Key field (RFC 3110 2 for RSA). DNSKEY flags are
    not a property of the key pair: the key manager assigns the role.
    """

    key_id: str  # stable id in the store (hex CKA_ID for PKCS#11)
    label: str
    algorithm: Algorithm
    bits: int
    public_key: bytes


@dataclass(frozen=True, slots=True)
class KeyStoreSpec:
    """How to open a key store; picklable, so worker processes can open their own.

    backend "pkcs11": ``module`` (path of the PKCS#11 library), ``token_label``, ``pin``,
    and for SoftHSM2 ``softhsm2_conf`` (exported as SOFTHSM2_CONF before loading).
    backend "file": ``directory`` of PEM files; "memory": a name for in-process stores.
    """

    backend: str
    module: Path | None = None
    token_label: str | None = None
    pin: str | None = field(default=None, repr=False)
    softhsm2_conf: Path | None = None
    directory: Path | None = None


class KeyStore(Protocol):
    """Generate keys, find them, and sign with them; private keys never leave."""

    @property
    def spec(self) -> KeyStoreSpec: ...

    def generate_key(self, *, label: str, algorithm: Algorithm, bits: int) -> KeyInfo:
        """Make a new key pair inside the store and return its public half."""
        ...

    def get_key(self, key_id: str) -> KeyInfo:
        """The key with this id; ``KeyNotFound`` if there is none."""
        ...

    def list_keys(self) -> list[KeyInfo]: ...

    def delete_key(self, key_id: str) -> None:
        """Destroy the key pair (irreversible); ``KeyNotFound`` if there is none."""
        ...

    def sign(self, key_id: str, data: bytes) -> bytes:
        """Sign ``data`` with the key's algorithm (RSASHA256: CKM_SHA256_RSA_PKCS)."""
        ...

    def sign_many(self, key_id: str, items: Sequence[bytes]) -> list[bytes]:
        """Sign each item in order; one call per batch keeps per-call overhead low."""
        ...

    def close(self) -> None: ...
