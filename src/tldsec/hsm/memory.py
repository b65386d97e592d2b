"""MemoryKeyStore: keys in this process only, for fast unit tests (never for a real zone).

A store opened with a name shares its keys with every other store of that name in the
process, and with processes forked from it afterwards; that is how a test hands keys to
signing workers without a token. A store without a name is private.
"""

from __future__ import annotations

from tldsec.errors import KeyNotFound
from tldsec.hsm.base import KeyInfo, KeyStoreSpec
from tldsec.hsm.software import SoftwareKey, SoftwareKeyStore

# Named in-process key sets; test-only by construction (nothing persists).  This table is
# the memory backend's whole point, so it is process state on purpose.
_NAMED: dict[str, dict[str, SoftwareKey]] = {}


class MemoryKeyStore(SoftwareKeyStore):
    """Keys generated with ``cryptography`` and kept in a dict; same interface as an HSM."""

    def __init__(self, name: str | None = None) -> None:
        self._name = name
        self._keys: dict[str, SoftwareKey] = {} if name is None else _NAMED.setdefault(name, {})

    @property
    def spec(self) -> KeyStoreSpec:
        return KeyStoreSpec(backend="memory", token_label=self._name)

    def _put(self, key: SoftwareKey) -> None:
        self._keys[key.info.key_id] = key

    def list_keys(self) -> list[KeyInfo]:
        return sorted((k.info for k in self._keys.values()), key=lambda i: (i.label, i.key_id))

    def delete_key(self, key_id: str) -> None:
        """Remove a key (tests of missing keys)."""
        self._key(key_id)
        del self._keys[key_id]

    def close(self) -> None:
        """Nothing to release; a named key set stays for later stores of that name."""

    def _key(self, key_id: str) -> SoftwareKey:
        try:
            return self._keys[key_id]
        except KeyError:
            where = f"memory key store {self._name!r}" if self._name else "memory key store"
            raise KeyNotFound(f"no key with id {key_id} in the {where}") from None


def forget_named_store(name: str) -> None:
    """Drop the keys of a named memory store (test teardown)."""
    _NAMED.pop(name, None)
