"""Private keys held by ``cryptography`` in this process: what the file and memory stores share.

A ``SoftwareKey`` is one key pair with its ``KeyInfo``. An RSA key signs
RSASSA-PKCS1-v1_5 with the hash of its DNSSEC algorithm (RFC 5702 3), exactly as
CKM_SHA256_RSA_PKCS does in a token, so the same key signs to the same bytes in every
store. A P-256 key signs ECDSA with SHA-256 and returns r | s (RFC 6605 4), as CKM_ECDSA
over the SHA-256 digest does in a token; ECDSA signatures are randomised, so two
signatures of the same data differ and both verify.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tldsec.errors import SigningFailed
from tldsec.hsm import eckey
from tldsec.hsm.base import KeyInfo
from tldsec.hsm.keyalg import (
    PrivateKey,
    check_key_request,
    dnskey_public_key_of,
    is_ecdsa,
    key_bits,
)
from tldsec.hsm.rsakey import PUBLIC_EXPONENT, RSA_HASHES, new_key_id
from tldsec.policy import Algorithm


@dataclass(frozen=True, slots=True)
class SoftwareKey:
    """A private key (RSA or P-256) and what the store tells about it."""

    info: KeyInfo
    private_key: PrivateKey = field(repr=False)
    _sign: Callable[[bytes], bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if key_bits(self.private_key) != self.info.bits:
            raise ValueError(f"key {self.info.key_id}: {self.info.bits} bits claimed, not held")
        # Built once per key: sign_many then costs one private-key operation per item.
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if not is_ecdsa(self.info.algorithm):
                raise ValueError(
                    f"key {self.info.key_id}: an EC key is not algorithm {int(self.info.algorithm)}"
                )
            algo = eckey.ecdsa_sha256()

            def sign_ec(data: bytes) -> bytes:
                return eckey.raw_signature(key.sign(data, algo))

            object.__setattr__(self, "_sign", sign_ec)
        else:
            if is_ecdsa(self.info.algorithm):
                raise ValueError(f"key {self.info.key_id}: an RSA key is not algorithm 13")
            pad, digest = padding.PKCS1v15(), RSA_HASHES[self.info.algorithm]()

            def sign_rsa(data: bytes) -> bytes:
                return key.sign(data, pad, digest)

            object.__setattr__(self, "_sign", sign_rsa)

    def sign(self, data: bytes) -> bytes:
        """The RRSIG signature of ``data`` (RFC 5702 3 for RSA, RFC 6605 4 for ECDSA)."""
        try:
            return self._sign(data)
        except (ValueError, TypeError) as exc:
            raise SigningFailed(f"key {self.info.key_id}: signing failed: {exc}") from exc

    def sign_many(self, items: Sequence[bytes]) -> list[bytes]:
        sign = self._sign
        try:
            return [sign(item) for item in items]
        except (ValueError, TypeError) as exc:
            raise SigningFailed(f"key {self.info.key_id}: signing failed: {exc}") from exc


def software_key(
    private_key: PrivateKey,
    *,
    label: str,
    algorithm: Algorithm,
    key_id: str | None = None,
) -> SoftwareKey:
    """Wrap a ``cryptography`` key as a store key (a new random id unless given)."""
    bits = key_bits(private_key)
    alg = check_key_request(algorithm, bits)
    info = KeyInfo(
        key_id=key_id or new_key_id(),
        label=label,
        algorithm=alg,
        bits=bits,
        public_key=dnskey_public_key_of(private_key),
    )
    return SoftwareKey(info, private_key)


def generate_software_key(*, label: str, algorithm: Algorithm, bits: int) -> SoftwareKey:
    """A new key pair: RSA with public exponent 65537 (DPS 6.1), or P-256 (RFC 6605)."""
    alg = check_key_request(algorithm, bits)
    private_key: PrivateKey
    if is_ecdsa(alg):
        private_key = ec.generate_private_key(eckey.curve())
    else:
        private_key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits)
    return software_key(private_key, label=label, algorithm=alg)


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
        private_key: PrivateKey,
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
