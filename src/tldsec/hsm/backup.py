"""Key backup under the Storage Master Key (DPS 5.2.4, 5.2.5, 5.2.7).

The SMK is an AES-256 key made once, in a ceremony, from fresh randomness. It is split
at once into shares (``hsm/shamir.py``), one per holder, any three of which rebuild it
(DPS 5.2.2's threshold), and installed into each HSM from those shares; its clear value
lives only in the ceremony's process memory. A share names the SMK by its check value,
so a holder can tell which SMK a share belongs to without learning anything about it.

A backup (``KeyArchive``) holds each private key wrapped under the SMK inside the token
(RFC 5649, AES key wrap with padding), with its id, label, algorithm and public key. It
can be stored and moved like any file (DPS 5.2.7: on portable media); only an HSM that
holds the same SMK can unwrap it, and the wrap's own integrity check refuses a changed
key. A restore recreates every key under its id, then proves it: the token signs a
challenge with the restored key, verified against the archive's public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tldsec.errors import KeyStoreError
from tldsec.hsm.base import KeyInfo
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.hsm.rsakey import public_key_from_field
from tldsec.hsm.shamir import Share, combine, split
from tldsec.policy import Algorithm

SMK_BYTES = 32  # AES-256
SHARE_FORMAT = "tldsec-smk-share-1"
ARCHIVE_FORMAT = "tldsec-key-archive-1"
_HASHES = {Algorithm.RSASHA256: hashes.SHA256, Algorithm.RSASHA512: hashes.SHA512}


def smk_check_value(secret: bytes) -> str:
    """The SMK's public name: 8 bytes of SHA-256 over a label and the key, in hex."""
    return hashlib.sha256(b"tldsec storage master key\0" + secret).digest()[:8].hex()


@dataclass(frozen=True, slots=True)
class SmkShare:
    """One holder's share of the SMK, and the check value of the SMK it belongs to."""

    smk_check: str
    share: Share

    def to_text(self) -> str:
        return json.dumps(
            {
                "format": SHARE_FORMAT,
                "smk_check": self.smk_check,
                "index": self.share.index,
                "threshold": self.share.threshold,
                "value": self.share.value.hex(),
            },
            indent=1,
        )

    @classmethod
    def parse(cls, text: str, source: str) -> SmkShare:
        """A share from its text; ``KeyStoreError`` naming ``source`` and what is wrong."""
        try:
            data = json.loads(text)
            if data.get("format") != SHARE_FORMAT:
                raise ValueError(f"not a {SHARE_FORMAT} file")
            share = Share(int(data["index"]), int(data["threshold"]), bytes.fromhex(data["value"]))
            return cls(str(data["smk_check"]), share)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyStoreError(f"{source}: not a readable SMK share: {exc}") from exc


def new_smk(shares: int, threshold: int) -> tuple[bytes, list[SmkShare]]:
    """A fresh SMK and its shares (for the ceremony that installs it and hands them out)."""
    secret = os.urandom(SMK_BYTES)
    check = smk_check_value(secret)
    try:
        parts = split(secret, shares, threshold)
    except ValueError as exc:
        raise KeyStoreError(f"cannot split the Storage Master Key: {exc}") from exc
    return secret, [SmkShare(check, part) for part in parts]


def assemble_smk(shares: Sequence[SmkShare]) -> tuple[bytes, str]:
    """The SMK from its holders' shares, and its check value; refused unless the shares
    are enough, agree on which SMK they are of, and rebuild exactly that SMK."""
    checks = {s.smk_check for s in shares}
    if len(checks) > 1:
        raise KeyStoreError(f"the shares belong to different SMKs: {', '.join(sorted(checks))}")
    try:
        secret = combine([s.share for s in shares])
    except ValueError as exc:
        raise KeyStoreError(f"cannot rebuild the Storage Master Key: {exc}") from exc
    (expected,) = checks
    if smk_check_value(secret) != expected:
        raise KeyStoreError(
            f"the shares do not rebuild SMK {expected}: one of them is wrong or damaged"
        )
    return secret, expected


@dataclass(frozen=True, slots=True)
class ArchivedKey:
    """One key of a backup: the public half in the clear, the private half wrapped."""

    key: KeyInfo
    wrapped: bytes


@dataclass(frozen=True, slots=True)
class KeyArchive:
    """Keys wrapped under one SMK: what ``back_up`` writes and ``restore`` reads."""

    smk_check: str
    created: datetime
    keys: tuple[ArchivedKey, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": ARCHIVE_FORMAT,
                "smk_check": self.smk_check,
                "created": self.created.isoformat(),
                "keys": [
                    {
                        "key_id": a.key.key_id,
                        "label": a.key.label,
                        "algorithm": int(a.key.algorithm),
                        "bits": a.key.bits,
                        "public_key": base64.b64encode(a.key.public_key).decode(),
                        "wrapped": base64.b64encode(a.wrapped).decode(),
                    }
                    for a in self.keys
                ],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> KeyArchive:
        """An archive from its text; ``KeyStoreError`` naming ``source`` and what is wrong."""
        try:
            data = json.loads(text)
            if data.get("format") != ARCHIVE_FORMAT:
                raise ValueError(f"not a {ARCHIVE_FORMAT} file")
            keys = tuple(_archived_key(k) for k in data["keys"])
            return cls(str(data["smk_check"]), datetime.fromisoformat(data["created"]), keys)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyStoreError(f"{source}: not a readable key archive: {exc}") from exc


def _archived_key(data: dict[str, Any]) -> ArchivedKey:
    key = KeyInfo(
        key_id=str(data["key_id"]),
        label=str(data["label"]),
        algorithm=Algorithm(int(data["algorithm"])),
        bits=int(data["bits"]),
        public_key=base64.b64decode(data["public_key"], validate=True),
    )
    return ArchivedKey(key, base64.b64decode(data["wrapped"], validate=True))


def back_up(store: Pkcs11KeyStore, smk_check: str, now: datetime) -> KeyArchive:
    """Every key of the store, wrapped under the SMK in the token."""
    keys = store.list_keys()
    archived = tuple(ArchivedKey(k, store.wrap_private_key(k.key_id, smk_check)) for k in keys)
    return KeyArchive(smk_check, now, archived)


def restore(store: Pkcs11KeyStore, archive: KeyArchive) -> list[KeyInfo]:
    """Recreate the archive's keys in the store's token (which must hold its SMK), each
    proven by a signature; stops at the first key that cannot be restored."""
    restored = []
    for archived in archive.keys:
        info = store.unwrap_private_key(archived.wrapped, archive.smk_check, key=archived.key)
        _prove(store, archived.key)
        restored.append(info)
    return restored


def _prove(store: Pkcs11KeyStore, key: KeyInfo) -> None:
    challenge = b"tldsec restore check " + os.urandom(16)
    signature = store.sign(key.key_id, challenge)
    try:
        public_key_from_field(key.public_key).verify(
            signature, challenge, padding.PKCS1v15(), _HASHES[key.algorithm]()
        )
    except InvalidSignature:
        store.delete_key(key.key_id)
        raise KeyStoreError(
            f"restored key {key.key_id} does not sign like its public key: removed again"
        ) from None
