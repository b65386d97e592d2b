"""FileKeyStore: RSA and P-256 keys as PEM files in a private directory, where the policy allows it.

DPS 5.2 requires an HSM for the production zone; this backend serves tests, benchmarks and
operators without one. Layout of ``spec.directory`` (mode 0700):

    <key_id>.pem    PKCS#8 private key, unencrypted, mode 0600
    <key_id>.json   {"label": ..., "algorithm": 8}, mode 0600

A directory or key file that group or others may access is refused: the store will not
sign with a key someone else might have copied.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tldsec.errors import KeyNotFound, KeyStoreError, KeyStoreUnavailable
from tldsec.hsm.base import KeyInfo, KeyStoreSpec
from tldsec.hsm.software import SoftwareKey, SoftwareKeyStore, software_key
from tldsec.policy import Algorithm

_KEY_ID = re.compile(r"^[0-9a-f]{2,64}$")
_PRIVATE_MODES = stat.S_IRWXG | stat.S_IRWXO  # any of these bits set = not private


def create_key_directory(directory: Path) -> Path:
    """Make the key directory (and its parents) with mode 0700; return it."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)  # mkdir's mode is filtered by the umask
    return directory


class FileKeyStore(SoftwareKeyStore):
    """PEM keys in a directory only this user can read; signs with ``cryptography``."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        _check_private(directory, what="key directory", want_dir=True)
        self._cache: dict[str, SoftwareKey] = {}

    @property
    def spec(self) -> KeyStoreSpec:
        return KeyStoreSpec(backend="file", directory=self._dir)

    def list_keys(self) -> list[KeyInfo]:
        _check_private(self._dir, what="key directory", want_dir=True)
        infos = [self._key(p.stem).info for p in sorted(self._dir.glob("*.pem"))]
        return sorted(infos, key=lambda i: (i.label, i.key_id))

    def delete_key(self, key_id: str) -> None:
        """Remove the key's PEM file and its sidecar (irreversible)."""
        self._key(key_id)
        for path in self._paths(key_id):
            path.unlink(missing_ok=True)
        self._cache.pop(key_id, None)

    def close(self) -> None:
        """Forget the loaded keys."""
        self._cache.clear()

    def _paths(self, key_id: str) -> tuple[Path, Path]:
        if not _KEY_ID.match(key_id):
            raise KeyNotFound(f"no key with id {key_id!r} in key directory {self._dir}")
        return self._dir / f"{key_id}.pem", self._dir / f"{key_id}.json"

    def _key(self, key_id: str) -> SoftwareKey:
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        pem_path, meta_path = self._paths(key_id)
        if not pem_path.exists():
            raise KeyNotFound(f"no key with id {key_id} in key directory {self._dir}")
        _check_private(pem_path, what="key file", want_dir=False)
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            label, algorithm = str(meta["label"]), Algorithm(int(meta["algorithm"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyStoreError(f"key {key_id}: sidecar {meta_path} is unusable: {exc}") from exc
        try:
            private_key = serialization.load_pem_private_key(pem_path.read_bytes(), None)
        except (OSError, ValueError, TypeError) as exc:
            raise KeyStoreError(f"key file {pem_path} is unusable: {exc}") from exc
        if not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise KeyStoreError(f"key file {pem_path} does not hold an RSA or EC key")
        key = software_key(private_key, label=label, algorithm=algorithm, key_id=key_id)
        self._cache[key_id] = key
        return key

    def _put(self, key: SoftwareKey) -> None:
        pem_path, meta_path = self._paths(key.info.key_id)
        if pem_path.exists():
            raise KeyStoreError(f"key {key.info.key_id} already exists in {self._dir}")
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        meta = {"label": key.info.label, "algorithm": int(key.info.algorithm)}
        # The sidecar first: a key exists once its .pem is in place.
        try:
            _write_private(meta_path, (json.dumps(meta, sort_keys=True) + "\n").encode())
            _write_private(pem_path, pem)
        except OSError as exc:
            raise KeyStoreError(
                f"cannot write key {key.info.key_id} in {self._dir}: {exc}"
            ) from exc
        self._cache[key.info.key_id] = key


def _check_private(path: Path, *, what: str, want_dir: bool) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyStoreUnavailable(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise KeyStoreUnavailable(f"{what} {path} is unusable: {exc.strerror}") from exc
    if want_dir and not stat.S_ISDIR(st.st_mode):
        raise KeyStoreUnavailable(f"{what} {path} is not a directory")
    if not want_dir and not stat.S_ISREG(st.st_mode):
        raise KeyStoreUnavailable(f"{what} {path} is not a regular file")
    if st.st_mode & _PRIVATE_MODES:
        mode = stat.S_IMODE(st.st_mode)
        want = "700" if want_dir else "600"
        raise KeyStoreUnavailable(
            f"{what} {path} is accessible by group or others (mode {mode:04o}); "
            f"private keys need mode {want}: chmod {want} {path}"
        )


def _write_private(path: Path, data: bytes) -> None:
    """Write a new file with mode 0600 atomically (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
