"""Private keys held by ``cryptography`` in this process: what the file and memory stores share.

A ``SoftwareKey`` is one RSA key pair with its ``KeyInfo``; it signs RSASSA-PKCS1-v1_5
with the hash of its DNSSEC algorithm (RFC 5702 3), exactly as CKM_SHA256_RSA_PKCS does
in a token, so the same key signs to the same bytes in every store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tldsec.errors import SigningFailed
from tldsec.hsm.base import KeyInfo
from tldsec.hsm.rsakey import (
    PUBLIC_EXPONENT,
    RSA_HASHES,
    check_key_request,
    dnskey_public_key_of,
    new_key_id,
)
from tldsec.policy import Algorithm


@dataclass(frozen=True, slots=True)
class SoftwareKey:
    """An RSA private key and what the store tells about it."""

    info: KeyInfo
    private_key: rsa.RSAPrivateKey = field(repr=False)
    _padding: padding.PKCS1v15 = field(init=False, repr=False, compare=False)
    _hash: hashes.HashAlgorithm = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.private_key.key_size != self.info.bits:
            raise ValueError(f"key {self.info.key_id}: {self.info.bits} bits claimed, not held")
        # Built once per key: sign_many then costs one RSA operation per item.
        object.__setattr__(self, "_padding", padding.PKCS1v15())
        object.__setattr__(self, "_hash", RSA_HASHES[self.info.algorithm]())

    def sign(self, data: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 over ``data`` with the algorithm's hash (RFC 3110 3, RFC 5702 3)."""
        try:
            return self.private_key.sign(data, self._padding, self._hash)
        except (ValueError, TypeError) as exc:
            raise SigningFailed(f"key {self.info.key_id}: signing failed: {exc}") from exc

    def sign_many(self, items: Sequence[bytes]) -> list[bytes]:
        sign, pad, digest = self.private_key.sign, self._padding, self._hash
        try:
            return [sign(item, pad, digest) for item in items]
        except (ValueError, TypeError) as exc:
            raise SigningFailed(f"key {self.info.key_id}: signing failed: {exc}") from exc


def software_key(
    private_key: rsa.RSAPrivateKey,
    *,
    label: str,
    algorithm: Algorithm,
    key_id: str | None = None,
) -> SoftwareKey:
    """Wrap a ``cryptography`` RSA key as a store key (a new random id unless given)."""
    alg = check_key_request(algorithm, private_key.key_size)
    info = KeyInfo(
        key_id=key_id or new_key_id(),
        label=label,
        algorithm=alg,
        bits=private_key.key_size,
        public_key=dnskey_public_key_of(private_key),
    )
    return SoftwareKey(info, private_key)


def generate_software_key(*, label: str, algorithm: Algorithm, bits: int) -> SoftwareKey:
    """A new RSA key pair, public exponent 65537 (DPS 6.1)."""
    check_key_request(algorithm, bits)
    private_key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits)
    return software_key(private_key, label=label, algorithm=algorithm)


def private_key_from_numbers(numbers: rsa.RSAPrivateNumbers) -> rsa.RSAPrivateKey:
    """A ``cryptography`` private key from its numbers (checked for consistency)."""
    try:
        return numbers.private_key()
    except ValueError as exc:
        raise ValueError(f"inconsistent RSA private key numbers: {exc}") from exc


class SoftwareKeyStore:
    """What the file and memory key stores share: keys held as ``SoftwareKey`` and signed
    with ``cryptography``. A subclass says where keys are kept (``_put``, ``_key``)."""

    def _put(self, key: SoftwareKey) -> None:
        raise NotImplementedError

    def _key(self, key_id: str) -> SoftwareKey:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release by default."""

    def generate_key(self, *, label: str, algorithm: Algorithm, bits: int) -> KeyInfo:
        key = generate_software_key(label=label, algorithm=algorithm, bits=bits)
        self._put(key)
        return key.info

    def add_private_key(
        self,
        private_key: rsa.RSAPrivateKey,
        *,
        label: str,
        algorithm: Algorithm,
        key_id: str | None = None,
    ) -> KeyInfo:
        """Store a given key (tests, benchmarks); a random id unless given."""
        key = software_key(private_key, label=label, algorithm=algorithm, key_id=key_id)
        self._put(key)
        return key.info

    def import_rsa_private_key(
        self, numbers: rsa.RSAPrivateNumbers, *, label: str, algorithm: Algorithm
    ) -> KeyInfo:
        """Import a key from its numbers (test vectors such as RFC 5702 6.1)."""
        return self.add_private_key(
            private_key_from_numbers(numbers), label=label, algorithm=algorithm
        )

    def get_key(self, key_id: str) -> KeyInfo:
        return self._key(key_id).info

    def sign(self, key_id: str, data: bytes) -> bytes:
        return self._key(key_id).sign(data)

    def sign_many(self, key_id: str, items: Sequence[bytes]) -> list[bytes]:
        return self._key(key_id).sign_many(items)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
