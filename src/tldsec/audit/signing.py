"""The audit key: the ``AuditSigner`` protocol, the on-disk Ed25519 key, public keys.

The audit key signs checkpoints and archive seals (Ed25519, RFC 8032). It is a key of
its own, never a zone key. ``FileAuditSigner`` keeps it as a PKCS#8 PEM file with mode
0600; ``tldsec.audit.pkcs11_signer`` keeps it in the HSM. Auditors receive only the
public key, as a SubjectPublicKeyInfo PEM (``tldsec audit export-key``).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tldsec.errors import AuditError

KEY_FILE_MODE = 0o600  # DPS 4.4.4: the key that protects the log is readable by its owner only


class AuditSigner(Protocol):
    """Signs checkpoint statements with the audit key; private keys never leave."""

    @property
    def key_id(self) -> str: ...

    def public_key(self) -> Ed25519PublicKey: ...

    def sign(self, message: bytes) -> bytes: ...

    def close(self) -> None: ...


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key."""
    return hashlib.sha256(raw_public_key(key)).hexdigest()[:16]


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An auditor's copy of the audit public key (PEM SubjectPublicKeyInfo)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AuditError(f"cannot read public key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise AuditError(f"{path} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"{path} is not an Ed25519 public key")
    return key


def verify_signature(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


class Ed25519Signer:
    """An audit signer over an in-process Ed25519 key (the base of the file signer)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self._public = private_key.public_key()
        self._key_id = key_id_of(self._public)

    @classmethod
    def generate(cls) -> Ed25519Signer:
        """A fresh key that lives only in memory: for tests and benchmarks."""
        return cls(Ed25519PrivateKey.generate())

    @property
    def key_id(self) -> str:
        return self._key_id

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def close(self) -> None:
        return None


class FileAuditSigner(Ed25519Signer):
    """The audit key as an unencrypted PKCS#8 PEM file, mode 0600 (path from the config)."""

    def __init__(self, private_key: Ed25519PrivateKey, path: Path) -> None:
        super().__init__(private_key)
        self.path = path

    @classmethod
    def create(cls, path: Path) -> FileAuditSigner:
        """Generate a key and write it; refuses to overwrite an existing key file."""
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
        except FileExistsError:
            raise AuditError(f"audit key {path} already exists; refusing to replace it") from None
        except OSError as exc:
            raise AuditError(f"cannot create audit key {path}: {exc.strerror}") from exc
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        return cls(key, path)

    @classmethod
    def load(cls, path: Path) -> FileAuditSigner:
        """Read the key; refuses a file that others can read or write."""
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            data = path.read_bytes()
        except FileNotFoundError:
            raise AuditError(f"audit key {path} does not exist: run 'tldsec audit init'") from None
        except OSError as exc:
            raise AuditError(f"cannot read audit key {path}: {exc.strerror}") from exc
        if mode & 0o077:
            raise AuditError(
                f"audit key {path} has mode {mode:04o}; it must be 0600 (chmod 600 {path})"
            )
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise AuditError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise AuditError(f"{path} is not an Ed25519 private key")
        return cls(key, path)
