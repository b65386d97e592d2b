"""Key backup under the Storage Master Key (DPS 5.2.4, 5.2.5, 5.2.7), on real SoftHSM2
tokens: an SMK made in a ceremony and split three of five, installed into two HSMs from
different holders' shares; a key made in one HSM, backed up wrapped, restored into the
other, where it signs as the original did and is protected as every key is."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tldsec.errors import KeyStoreError
from tldsec.hsm.backup import (
    KeyArchive,
    SmkShare,
    assemble_smk,
    back_up,
    new_smk,
    restore,
    smk_check_value,
)
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.hsm.rsakey import public_key_from_field
from tldsec.hsm.shamir import Share
from tldsec.policy import Algorithm

NOW = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)


@pytest.fixture
def two_hsms(
    softhsm_token: Callable[[], KeyStoreSpec],
) -> Iterator[tuple[Pkcs11KeyStore, Pkcs11KeyStore]]:
    first, second = Pkcs11KeyStore(softhsm_token()), Pkcs11KeyStore(softhsm_token())
    try:
        yield first, second
    finally:
        first.close()
        second.close()


@pytest.fixture
def smk() -> tuple[str, list[SmkShare]]:
    """The ceremony: a new SMK, split among five holders, any three rebuild it."""
    secret, shares = new_smk(5, 3)
    return smk_check_value(secret), shares


def install(store: Pkcs11KeyStore, shares: list[SmkShare]) -> str:
    secret, check = assemble_smk(shares)
    store.install_smk(secret, check)
    return check


def test_a_key_backed_up_in_one_hsm_signs_the_same_after_restore_in_another(
    two_hsms: tuple[Pkcs11KeyStore, Pkcs11KeyStore], smk: tuple[str, list[SmkShare]]
) -> None:
    first, second = two_hsms
    check, shares = smk
    assert install(first, shares[:3]) == check
    assert install(second, shares[2:]) == check  # other holders, same SMK
    key = first.generate_key(label="ksk-2026", algorithm=Algorithm.RSASHA256, bits=2048)

    archive = KeyArchive.from_json(back_up(first, check, NOW).to_json(), "archive.json")
    (archived,) = archive.keys
    assert archived.key == key
    assert b"PRIVATE" not in archived.wrapped  # no PKCS#8 in the clear

    (restored,) = restore(second, archive)
    assert restored == key
    message = b"the same key in another HSM"
    public_key_from_field(key.public_key).verify(
        second.sign(key.key_id, message), message, padding.PKCS1v15(), hashes.SHA256()
    )
    protection = second.key_protection(key.key_id)
    assert protection.sensitive and protection.extractable and protection.sign
    assert protection.private and protection.token
    assert not protection.always_sensitive  # truthfully: it was once outside, wrapped


def test_the_smk_never_leaves_and_does_nothing_but_wrap(
    two_hsms: tuple[Pkcs11KeyStore, Pkcs11KeyStore], smk: tuple[str, list[SmkShare]]
) -> None:
    first, _ = two_hsms
    check, shares = smk
    install(first, shares[:3])
    assert first.has_smk(check)
    with pytest.raises(KeyStoreError, match="already holds the Storage Master Key"):
        install(first, shares[1:4])
    key = first.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    with pytest.raises(KeyStoreError, match="holds no Storage Master Key 00"):
        first.wrap_private_key(key.key_id, "00" * 8)


def test_wrong_or_too_few_shares_do_not_make_an_smk(smk: tuple[str, list[SmkShare]]) -> None:
    check, shares = smk
    with pytest.raises(KeyStoreError, match="2 shares given; this secret needs 3"):
        assemble_smk(shares[:2])
    bad = dataclasses.replace(
        shares[0], share=Share(shares[0].share.index, 3, bytes(len(shares[0].share.value)))
    )
    with pytest.raises(KeyStoreError, match=f"do not rebuild SMK {check}"):
        assemble_smk([bad, *shares[1:3]])
    _, others = new_smk(5, 3)
    with pytest.raises(KeyStoreError, match="different SMKs"):
        assemble_smk([shares[0], *others[1:3]])
    text = shares[4].to_text()
    assert SmkShare.parse(text, "share-5.json") == shares[4]
    with pytest.raises(KeyStoreError, match=r"share-5\.json: not a readable SMK share"):
        SmkShare.parse(text.replace('"index": 5', '"index": 0'), "share-5.json")
    with pytest.raises(KeyStoreError, match=r"share-5\.json: not a readable SMK share"):
        SmkShare.parse("a key archive", "share-5.json")


def test_an_hsm_without_the_smk_cannot_restore_and_a_key_is_restored_once(
    two_hsms: tuple[Pkcs11KeyStore, Pkcs11KeyStore], smk: tuple[str, list[SmkShare]]
) -> None:
    first, second = two_hsms
    check, shares = smk
    install(first, shares[:3])
    first.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    archive = back_up(first, check, NOW)
    with pytest.raises(KeyStoreError, match=f"holds no Storage Master Key {check}"):
        restore(second, archive)
    install(second, shares[2:])
    restore(second, archive)
    with pytest.raises(KeyStoreError, match="already holds a key with id"):
        restore(second, archive)


def test_a_changed_archive_is_refused(
    two_hsms: tuple[Pkcs11KeyStore, Pkcs11KeyStore], smk: tuple[str, list[SmkShare]]
) -> None:
    first, second = two_hsms
    check, shares = smk
    install(first, shares[:3])
    install(second, shares[2:])
    first.generate_key(label="a", algorithm=Algorithm.RSASHA256, bits=1024)
    other = first.generate_key(label="b", algorithm=Algorithm.RSASHA256, bits=1024)
    archive = back_up(first, check, NOW)
    a, b = archive.keys
    flipped = bytearray(a.wrapped)
    flipped[-1] ^= 1
    tampered = dataclasses.replace(archive, keys=(dataclasses.replace(a, wrapped=bytes(flipped)),))
    with pytest.raises(KeyStoreError):
        restore(second, tampered)  # RFC 5649's integrity check
    swapped = dataclasses.replace(
        archive, keys=(dataclasses.replace(a, wrapped=b.wrapped),)
    )  # a's public key, b's private key
    with pytest.raises(KeyStoreError, match="not the private half of its public key"):
        restore(second, swapped)
    assert [k.key_id for k in second.list_keys()] == []
    assert other.key_id in {k.key.key_id for k in archive.keys}


def test_an_unreadable_archive_is_named() -> None:
    with pytest.raises(KeyStoreError, match=r"backup\.json: not a readable key archive"):
        KeyArchive.from_json("{}", "backup.json")
    with pytest.raises(KeyStoreError, match=r"backup\.json: not a readable key archive"):
        KeyArchive.from_json("not json", "backup.json")
    text = KeyArchive("00" * 8, NOW, ()).to_json().replace('"keys": []', '"keys": [{}]')
    with pytest.raises(KeyStoreError, match="'key_id'"):
        KeyArchive.from_json(text, "backup.json")
