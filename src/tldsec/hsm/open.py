"""open_keystore: the one place a ``KeyStoreSpec`` becomes a store.

Each backend is imported only when asked for, so a process that signs with files never
loads a PKCS#11 library. Safe in a freshly forked worker: the worker calls
``open_keystore(spec)`` and gets its own session (``p11lib`` re-initialises the module
in the new process).
"""

from __future__ import annotations

from tldsec.errors import KeyStoreUnavailable
from tldsec.hsm.base import KeyStore, KeyStoreSpec

BACKENDS = ("pkcs11", "file", "memory")


def open_keystore(spec: KeyStoreSpec) -> KeyStore:
    """Open the store the spec describes; ``KeyStoreError`` subclasses on failure."""
    if spec.backend == "pkcs11":
        from tldsec.hsm.pkcs11 import Pkcs11KeyStore

        return Pkcs11KeyStore(spec)
    if spec.backend == "file":
        from tldsec.hsm.file import FileKeyStore

        if spec.directory is None:
            raise KeyStoreUnavailable("no key directory configured ([keystore] directory)")
        return FileKeyStore(spec.directory)
    if spec.backend == "memory":
        from tldsec.hsm.memory import MemoryKeyStore

        return MemoryKeyStore(spec.token_label)
    raise KeyStoreUnavailable(
        f"unknown key store backend {spec.backend!r} (one of {', '.join(BACKENDS)})"
    )
