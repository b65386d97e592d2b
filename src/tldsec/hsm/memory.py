"""MemoryKeyStore: keys in this process only, for fast unit tests (never for a real zone).

A store opened with a name shares its keys with every other store of that name in the
process, and with processes forked from it afterwards; that is how a test hands keys to
signing workers without a token. A store without a name is private.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from cryptography.hazmat.primitives.asymmetric import rsa

from tldsec.errors import KeyNotFound
from tldsec.hsm.base import KeyInfo, KeyStoreSpec
from tldsec.hsm.software import (
    SoftwareKey,
    generate_software_key,
    private_key_from_numbers,
    software_key,
)
from tldsec.policy import Algorithm

# Named in-process key sets; test-only by construction (nothing persists).  This table is
# the memory backend's whole point, so it is process state on purpose.
_NAMED: dict[str, dict[str, SoftwareKey]] = {}


class MemoryKeyStore:
    """Keys generated with ``cryptography`` and kept in a dict; same interface as an HSM."""

    def __init__(self, name: str | None = None) -> None:
        self._name = name
        self._keys: dict[str, SoftwareKey] = {} if name is None else _NAMED.setdefault(name, {})

    @property
    def spec(self) -> KeyStoreSpec:
        return KeyStoreSpec(backend="memory", token_label=self._name)

    def generate_key(self, *, label: str, algorithm: Algorithm, bits: int) -> KeyInfo:
        key = generate_software_key(label=label, algorithm=algorithm, bits=bits)
        self._keys[key.info.key_id] = key
        return key.info

    def add_private_key(
        self,
        private_key: rsa.RSAPrivateKey,
        *,
        label: str,
        algorithm: Algorithm,
        key_id: str | None = None,
    ) -> KeyInfo:
        """Put a given key in the store (deterministic tests); a random id unless given."""
        key = software_key(private_key, label=label, algorithm=algorithm, key_id=key_id)
        self._keys[key.info.key_id] = key
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

    def list_keys(self) -> list[KeyInfo]:
        return sorted((k.info for k in self._keys.values()), key=lambda i: (i.label, i.key_id))

    def sign(self, key_id: str, data: bytes) -> bytes:
        return self._key(key_id).sign(data)

    def sign_many(self, key_id: str, items: Sequence[bytes]) -> list[bytes]:
        return self._key(key_id).sign_many(items)

    def delete_key(self, key_id: str) -> None:
        """Remove a key (tests of missing keys)."""
        self._key(key_id)
        del self._keys[key_id]

    def close(self) -> None:
        """Nothing to release; a named key set stays for later stores of that name."""

    def __enter__(self) -> MemoryKeyStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _key(self, key_id: str) -> SoftwareKey:
        try:
            return self._keys[key_id]
        except KeyError:
            where = f"memory key store {self._name!r}" if self._name else "memory key store"
            raise KeyNotFound(f"no key with id {key_id} in the {where}") from None


def forget_named_store(name: str) -> None:
    """Drop the keys of a named memory store (test teardown)."""
    _NAMED.pop(name, None)
