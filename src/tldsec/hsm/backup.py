"""Key backup under the Storage Master Key (DPS 5.2.4, 5.2.5, 5.2.7).

The SMK is an AES-256 key whose value comes from the first HSM's random generator
(C_GenerateRandom) in a ceremony, is split at once into SLIP-39 shares
(``shamir-mnemonic``, the reference implementation: checksummed word lists a holder can
write on paper), one per holder, any ``threshold`` of which rebuild it (DPS 5.2.2's
three), and is installed into each HSM by the Security Officer (``hsm/smk.py``). Each
share is sealed (PyNaCl sealed box, X25519) to its holder's enrolled key, so no share
exists in clear outside its holder's hands. A share names its SMK by the check value.

A backup (``KeyArchive``) holds each private key wrapped under the SMK inside the token
(RFC 5649, AES key wrap with padding), with its id, label, algorithm and public key, and
a MAC over all of it (HMAC-SHA256 made in the token by a one-use key that travels wrapped
under the SMK): only an HSM holding the same SMK can check or unwrap it, and a changed
field (an algorithm edited from 8 to 10) is refused before anything is created. A restore
checks every entry first, creates the missing keys, proves each by a signature, and
removes what it created if any step fails; keys already in the token are left as they
are, so running it again finishes an interrupted restore.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.public
import nacl.signing
import shamir_mnemonic
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tldsec.atomicfile import replacing
from tldsec.errors import KeyNotFound, KeyStoreError
from tldsec.hsm.base import KeyInfo
from tldsec.hsm.keyalg import check_stored_key, verifies
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.hsm.smk import SMK_BYTES
from tldsec.policy import Algorithm

SHARE_FORMAT = "tldsec-smk-share-2"
ARCHIVE_FORMAT = "tldsec-key-archive-2"
MAX_SHARES = 16  # SLIP-39: a group has at most 16 members


def smk_check_value(secret: bytes) -> str:
    """The SMK's public name: 8 bytes of SHA-256 over a label and the key, in hex."""
    return hashlib.sha256(b"tldsec storage master key\0" + secret).digest()[:8].hex()


# -- shares ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Holder:
    """A person who holds one share: their name and enrolled Ed25519 public key."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise KeyStoreError(f"{self.name}: an enrolled key is 32 bytes (Ed25519)")


@dataclass(frozen=True, slots=True)
class SealedShare:
    """One holder's SLIP-39 share, sealed to their key, and which SMK it is of."""

    smk_check: str
    holder: str
    threshold: int
    shares: int
    sealed: bytes = field(repr=False)

    def to_text(self) -> str:
        return json.dumps(
            {
                "format": SHARE_FORMAT,
                "smk_check": self.smk_check,
                "holder": self.holder,
                "threshold": self.threshold,
                "shares": self.shares,
                "sealed": base64.b64encode(self.sealed).decode(),
            },
            indent=1,
        )

    @classmethod
    def parse(cls, text: str, source: str) -> SealedShare:
        """A share from its text; ``KeyStoreError`` naming ``source`` and what is wrong."""
        try:
            data = json.loads(text)
            if data.get("format") != SHARE_FORMAT:
                raise ValueError(f"not a {SHARE_FORMAT} file")
            share = cls(
                str(data["smk_check"]),
                str(data["holder"]),
                int(data["threshold"]),
                int(data["shares"]),
                base64.b64decode(data["sealed"], validate=True),
            )
            bytes.fromhex(share.smk_check)
            return share
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyStoreError(f"{source}: not a readable SMK share: {exc}") from exc

    def open(self, private_key_pem: bytes, source: str) -> str:
        """The share's SLIP-39 words, opened with its holder's private key (PEM)."""
        try:
            key = serialization.load_pem_private_key(private_key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyStoreError(f"{source}: not a readable private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyStoreError(f"{source}: not an Ed25519 private key (tldsec ceremony enrol)")
        signing = nacl.signing.SigningKey(key.private_bytes_raw())
        try:
            words = nacl.public.SealedBox(signing.to_curve25519_private_key()).decrypt(self.sealed)
        except nacl.exceptions.CryptoError:
            raise KeyStoreError(
                f"{source} cannot open the share of {self.holder}: it is not their key, or "
                "the share was changed"
            ) from None
        return words.decode("ascii")


def split_smk(secret: bytes, holders: Sequence[Holder], threshold: int) -> list[SealedShare]:
    """The SMK as SLIP-39 shares, one sealed to each holder; any ``threshold`` rebuild it."""
    if len({h.name for h in holders}) != len(holders):
        raise KeyStoreError("each holder holds one share: a name is given twice")
    if not 2 <= threshold <= len(holders) <= MAX_SHARES:
        raise KeyStoreError(
            f"need 2 <= threshold <= holders <= {MAX_SHARES} (SLIP-39), "
            f"not {threshold} of {len(holders)}"
        )
    check = smk_check_value(secret)
    # One group of len(holders) members, threshold of them needed (SLIP-39 3).
    (words,) = shamir_mnemonic.generate_mnemonics(1, [(threshold, len(holders))], secret)
    return [
        SealedShare(check, holder.name, threshold, len(holders), _seal(mnemonic, holder))
        for holder, mnemonic in zip(holders, words, strict=True)
    ]


def _seal(mnemonic: str, holder: Holder) -> bytes:
    # The enrolled Ed25519 key, as its X25519 form (RFC 7748 4.1's birational map), seals.
    try:
        recipient = nacl.signing.VerifyKey(holder.public_key).to_curve25519_public_key()
    except nacl.exceptions.CryptoError as exc:  # RuntimeError: not a point on the curve
        raise KeyStoreError(f"{holder.name}: the enrolled key is not an Ed25519 key") from exc
    return bytes(nacl.public.SealedBox(recipient).encrypt(mnemonic.encode("ascii")))


def assemble_smk(check: str, mnemonics: Sequence[str]) -> bytes:
    """The SMK ``check`` from its holders' SLIP-39 words; refused unless they are valid
    shares of one split, enough of them, and rebuild exactly that SMK."""
    parsed = []
    for n, words in enumerate(mnemonics, start=1):
        try:
            parsed.append(shamir_mnemonic.Share.from_mnemonic(words))
        except shamir_mnemonic.MnemonicError as exc:
            raise KeyStoreError(f"share {n} is not a valid SLIP-39 share: {exc}") from exc
    if len({share.identifier for share in parsed}) > 1:
        raise KeyStoreError("the shares belong to different SMKs (their SLIP-39 ids differ)")
    distinct = {share.index for share in parsed}
    needed = parsed[0].member_threshold if parsed else 2
    if len(distinct) < needed:
        raise KeyStoreError(f"{len(distinct)} distinct shares given; SMK {check} needs {needed}")
    by_index = dict(zip((s.index for s in parsed), mnemonics, strict=True))
    try:
        secret = bytes(shamir_mnemonic.combine_mnemonics(list(by_index.values())[:needed]))
    except shamir_mnemonic.MnemonicError as exc:
        raise KeyStoreError(f"cannot rebuild the Storage Master Key: {exc}") from exc
    if len(secret) != SMK_BYTES or smk_check_value(secret) != check:
        raise KeyStoreError(f"the shares do not rebuild SMK {check}: they are of another SMK")
    return secret


# -- archives -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArchivedKey:
    """One key of a backup: the public half in the clear, the private half wrapped."""

    key: KeyInfo
    wrapped: bytes


@dataclass(frozen=True, slots=True)
class KeyArchive:
    """Keys wrapped under one SMK, and a MAC over everything: what ``back_up`` writes
    and ``restore`` reads."""

    smk_check: str
    created: datetime
    keys: tuple[ArchivedKey, ...]
    mac_key: bytes = b""  # a one-use HMAC key, wrapped under the SMK
    mac: bytes = b""  # HMAC-SHA256 over ``signed_bytes``

    def _body(self) -> dict[str, Any]:
        return {
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
        }

    def signed_bytes(self) -> bytes:
        """What the MAC covers: every field but the MAC and its wrapped key, as canonical
        JSON. (A changed wrapped MAC key fails its unwrap or gives another MAC.)"""
        return json.dumps(self._body(), sort_keys=True, separators=(",", ":")).encode()

    def to_json(self) -> str:
        return json.dumps(
            {
                **self._body(),
                "mac_key": base64.b64encode(self.mac_key).decode(),
                "mac": base64.b64encode(self.mac).decode(),
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
            return cls(
                str(data["smk_check"]),
                datetime.fromisoformat(data["created"]),
                keys,
                base64.b64decode(data["mac_key"], validate=True),
                base64.b64decode(data["mac"], validate=True),
            )
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


def back_up(
    store: Pkcs11KeyStore, smk_check: str, now: datetime, key_ids: Sequence[str] | None = None
) -> KeyArchive:
    """The store's keys (or those named), wrapped under the SMK in the token, with a MAC
    made in the token under the same SMK."""
    keys = store.list_keys() if key_ids is None else [store.get_key(k) for k in key_ids]
    archived = tuple(ArchivedKey(k, store.wrap_private_key(k.key_id, smk_check)) for k in keys)
    unsigned = KeyArchive(smk_check, now, archived)
    mac_key, mac = store.mac_under_smk(smk_check, unsigned.signed_bytes())
    return KeyArchive(smk_check, now, archived, mac_key, mac)


def write_archive(
    store: Pkcs11KeyStore,
    smk_check: str,
    path: Path,
    now: datetime,
    key_ids: Sequence[str] | None = None,
) -> KeyArchive:
    """``back_up`` into the file ``path`` (written atomically, mode 0600), then checked as
    written: read back, its MAC verified and each key unwrapped from it in a scratch
    object (``check_archive``). Only a checked archive counts as a backup (DPS 5.2.4)."""
    archive = back_up(store, smk_check, now, key_ids)
    try:
        with replacing(path, "w", encoding="utf-8", permissions=0o600) as f:
            f.write(archive.to_json() + "\n")
        text = path.read_text("utf-8")
    except OSError as exc:
        raise KeyStoreError(f"cannot write the key archive {path}: {exc.strerror}") from exc
    check_archive(store, KeyArchive.from_json(text, str(path)), unwrap=True)
    return archive


def archive_name(now: datetime, key_ids: Sequence[str]) -> str:
    """A new archive's file name: when, and which keys (their ids' first digits)."""
    ids = "-".join(k[:8] for k in key_ids) or "none"
    return f"keys-{now:%Y%m%dT%H%M%SZ}-{ids}.json"


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore did: the keys it created, and those the token already held."""

    restored: tuple[KeyInfo, ...]
    present: tuple[KeyInfo, ...]


def check_archive(store: Pkcs11KeyStore, archive: KeyArchive, *, unwrap: bool = False) -> None:
    """Refuse an archive whose MAC does not verify under the token's SMK; with ``unwrap``,
    also each key whose wrapped copy does not restore it (unwrapped in a scratch session
    object, compared with its public key and made to sign: ``check_wrapped_key``)."""
    if not archive.mac or not store.mac_checks(
        archive.smk_check, archive.mac_key, archive.signed_bytes(), archive.mac
    ):
        raise KeyStoreError(
            f"the key archive does not verify under SMK {archive.smk_check}: it was changed "
            "after it was written (ids, labels, algorithms, public or wrapped keys); "
            "restore from an untouched copy"
        )
    if unwrap:
        for archived in archive.keys:
            store.check_wrapped_key(archived.wrapped, archive.smk_check, key=archived.key)


def restore(store: Pkcs11KeyStore, archive: KeyArchive) -> RestoreResult:
    """Recreate the archive's keys in the store's token (which must hold its SMK).

    Everything is checked before anything is created: the MAC, each entry, and that a
    key the token already holds under an archived id is that very key (then it is left
    alone). The missing keys are unwrapped and each proven by a signature; if any step
    fails, the keys created by this run are removed again.
    """
    check_archive(store, archive)
    pending: list[ArchivedKey] = []
    present: list[KeyInfo] = []
    seen: set[str] = set()
    for archived in archive.keys:
        key = archived.key
        if key.key_id in seen:
            raise KeyStoreError(f"the key archive lists key {key.key_id} twice")
        seen.add(key.key_id)
        check_stored_key(key.public_key, key.algorithm)
        try:
            held = store.get_key(key.key_id)
        except KeyNotFound:
            pending.append(archived)
            continue
        if (held.public_key, held.algorithm) != (key.public_key, key.algorithm):
            raise KeyStoreError(
                f"token '{store.token_label}' holds another key under id {key.key_id}: "
                "nothing was restored"
            )
        present.append(held)
    created: list[KeyInfo] = []
    try:
        for archived in pending:
            created.append(
                store.unwrap_private_key(archived.wrapped, archive.smk_check, key=archived.key)
            )
            _prove(store, archived.key)
    except BaseException:
        for info in reversed(created):
            store.delete_key(info.key_id)
        raise
    return RestoreResult(tuple(created), tuple(present))


def _prove(store: Pkcs11KeyStore, key: KeyInfo) -> None:
    challenge = b"tldsec restore check " + os.urandom(16)
    signature = store.sign(key.key_id, challenge)
    if not verifies(key.public_key, key.algorithm, challenge, signature):
        raise KeyStoreError(f"restored key {key.key_id} does not sign like its public key")
