"""Key backup under the Storage Master Key (DPS 5.2.4, 5.2.5, 5.2.7), on real SoftHSM2
tokens: an SMK from the first HSM's random generator, split three of five with SLIP-39
and sealed to five holders, installed by the security officer into two HSMs from
different holders' shares; a key made in one HSM, backed up wrapped and MACed, restored
into the other all or nothing, where it signs as the original did."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.fixtures.softhsm import SOFTHSM_SO_PIN
from tldsec.errors import KeyStoreError, KeyStoreLoginError
from tldsec.hsm.backup import (
    Holder,
    KeyArchive,
    SealedShare,
    assemble_smk,
    back_up,
    check_archive,
    restore,
    smk_check_value,
    split_smk,
)
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.keyalg import verifies
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.hsm.rsakey import public_key_from_field
from tldsec.hsm.smk import SMK_BYTES, officer_session
from tldsec.policy import Algorithm

NOW = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)


@dataclasses.dataclass
class Ceremony:
    """An SMK made in a ceremony: its check value, its shares, its holders' keys."""

    check: str
    shares: list[SealedShare]
    keys: list[bytes]  # each holder's private key, PEM

    def words(self, *which: int) -> list[str]:
        return [self.shares[i].open(self.keys[i], f"key-{i}") for i in which]


def holders(n: int) -> tuple[list[Holder], list[bytes]]:
    people, pems = [], []
    for i in range(n):
        key = Ed25519PrivateKey.generate()
        people.append(Holder(f"holder-{i}", key.public_key().public_bytes_raw()))
        pems.append(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return people, pems


def create_smk(spec: KeyStoreSpec) -> Ceremony:
    """smk-create: the SO of ``spec``'s token draws the SMK, splits, seals, installs."""
    people, pems = holders(5)
    with officer_session(spec, SOFTHSM_SO_PIN) as officer:
        secret = officer.random(SMK_BYTES)
        shares = split_smk(secret, people, 3)
        officer.install(secret, shares[0].smk_check)
    return Ceremony(smk_check_value(secret), shares, pems)


def install(spec: KeyStoreSpec, ceremony: Ceremony, *which: int) -> None:
    """smk-install: the SO of ``spec``'s token, from the opened shares ``which``."""
    secret = assemble_smk(ceremony.check, ceremony.words(*which))
    with officer_session(spec, SOFTHSM_SO_PIN) as officer:
        officer.install(secret, ceremony.check)


@pytest.fixture
def sites(
    softhsm_token: Callable[[], KeyStoreSpec],
) -> Iterator[tuple[Pkcs11KeyStore, Pkcs11KeyStore, Ceremony]]:
    """Two HSMs holding one SMK, made in the first, installed in the second."""
    a, b = softhsm_token(), softhsm_token()
    ceremony = create_smk(a)
    install(b, ceremony, 2, 3, 4)  # other holders, same SMK
    first, second = Pkcs11KeyStore(a), Pkcs11KeyStore(b)
    try:
        yield first, second, ceremony
    finally:
        first.close()
        second.close()


def test_a_key_backed_up_in_one_hsm_signs_the_same_after_restore_in_another(
    sites: tuple[Pkcs11KeyStore, Pkcs11KeyStore, Ceremony],
) -> None:
    first, second, ceremony = sites
    key = first.generate_key(label="ksk-2026", algorithm=Algorithm.RSASHA256, bits=2048)

    archive = KeyArchive.from_json(back_up(first, ceremony.check, NOW).to_json(), "a.json")
    (archived,) = archive.keys
    assert archived.key == key
    assert b"PRIVATE" not in archived.wrapped  # no PKCS#8 in the clear

    result = restore(second, archive)
    assert result.restored == (key,) and result.present == ()
    message = b"the same key in another HSM"
    public_key_from_field(key.public_key).verify(
        second.sign(key.key_id, message), message, padding.PKCS1v15(), hashes.SHA256()
    )
    protection = second.key_protection(key.key_id)
    assert protection.sensitive and protection.extractable and protection.wrap_with_trusted
    assert protection.private and protection.token and protection.sign
    assert not protection.always_sensitive and not protection.local  # truthfully: unwrapped


def test_an_ecdsa_p256_key_is_backed_up_and_restored_in_another_hsm(
    sites: tuple[Pkcs11KeyStore, Pkcs11KeyStore, Ceremony],
) -> None:
    first, second, ceremony = sites
    key = first.generate_key(label="ksk-13", algorithm=Algorithm.ECDSAP256SHA256, bits=256)
    archive = KeyArchive.from_json(back_up(first, ceremony.check, NOW).to_json(), "a.json")
    (archived,) = archive.keys
    assert archived.key == key
    check_archive(first, archive)

    result = restore(second, archive)
    assert result.restored == (key,)
    assert second.get_key(key.key_id) == key
    message = b"the same P-256 key in another HSM"
    assert verifies(key.public_key, key.algorithm, message, second.sign(key.key_id, message))
    protection = second.key_protection(key.key_id)
    assert protection.sensitive and protection.extractable and protection.wrap_with_trusted

    # Another P-256 key's wrapped half under this key's name is refused, nothing created.
    other = first.generate_key(label="other", algorithm=Algorithm.ECDSAP256SHA256, bits=256)
    wrapped = first.wrap_private_key(other.key_id, ceremony.check)
    second.delete_key(key.key_id)
    with pytest.raises(KeyStoreError, match="not the private half"):
        second.unwrap_private_key(wrapped, ceremony.check, key=key)
    with pytest.raises(KeyStoreError, match="not its private half"):
        second.check_wrapped_key(wrapped, ceremony.check, key=key)
    assert key.key_id not in {k.key_id for k in second.list_keys()}


def test_the_smk_is_made_once_and_an_hsm_without_it_cannot_restore(
    softhsm_token: Callable[[], KeyStoreSpec],
) -> None:
    a, b = softhsm_token(), softhsm_token()
    ceremony = create_smk(a)
    with pytest.raises(KeyStoreError, match="already holds the Storage Master Key"):
        install(a, ceremony, 0, 1, 2)
    with pytest.raises(KeyStoreLoginError, match="security officer"):
        officer_session(b, "not-the-so-pin").__enter__()
    first = Pkcs11KeyStore(a)
    second = Pkcs11KeyStore(b)
    try:
        with pytest.raises(KeyStoreError, match="user session open in this process"):
            officer_session(a, SOFTHSM_SO_PIN).__enter__()
        first.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
        archive = back_up(first, ceremony.check, NOW)
        with pytest.raises(KeyStoreError, match=f"holds no Storage Master Key {ceremony.check}"):
            restore(second, archive)
        with pytest.raises(KeyStoreError, match="holds no Storage Master Key 00"):
            first.wrap_private_key(first.list_keys()[0].key_id, "00" * 8)
    finally:
        first.close()
        second.close()


def test_shares_are_sealed_to_their_holders_and_checked_when_combined(
    softhsm_token: Callable[[], KeyStoreSpec],
) -> None:
    ceremony = create_smk(softhsm_token())
    text = ceremony.shares[4].to_text()
    assert SealedShare.parse(text, "share-5.json") == ceremony.shares[4]
    words = ceremony.words(4)[0]
    assert words not in text and len(words.split()) == 33  # SLIP-39, 256-bit secret
    with pytest.raises(KeyStoreError, match="key-0 cannot open the share of holder-4"):
        ceremony.shares[4].open(ceremony.keys[0], "key-0")
    with pytest.raises(KeyStoreError, match=f"2 distinct shares given; SMK {ceremony.check}"):
        assemble_smk(ceremony.check, ceremony.words(0, 1))
    with pytest.raises(KeyStoreError, match="2 distinct shares given"):
        assemble_smk(ceremony.check, ceremony.words(0, 1, 1))
    other = create_smk(softhsm_token())
    with pytest.raises(KeyStoreError, match="different SMKs"):
        assemble_smk(ceremony.check, [*ceremony.words(0, 1), *other.words(2)])
    with pytest.raises(KeyStoreError, match=f"do not rebuild SMK {ceremony.check}"):
        assemble_smk(ceremony.check, other.words(0, 1, 2))
    damaged = words.split()
    damaged[5] = "academic" if damaged[5] != "academic" else "acid"
    with pytest.raises(KeyStoreError, match="share 3 is not a valid SLIP-39 share"):
        assemble_smk(ceremony.check, [*ceremony.words(0, 1), " ".join(damaged)])
    with pytest.raises(KeyStoreError, match=r"share-5\.json: not a readable SMK share"):
        SealedShare.parse(text.replace('"smk_check": "', '"smk_check": "zz'), "share-5.json")
    with pytest.raises(KeyStoreError, match=r"share-5\.json: not a readable SMK share"):
        SealedShare.parse("a key archive", "share-5.json")


def two_key_archive(first: Pkcs11KeyStore, check: str) -> tuple[KeyArchive, list[str]]:
    ids = [
        first.generate_key(label=name, algorithm=Algorithm.RSASHA256, bits=1024).key_id
        for name in ("a", "b", "c")
    ]
    return back_up(first, check, NOW, ids), ids


def test_a_changed_archive_is_refused_before_anything_is_created(
    sites: tuple[Pkcs11KeyStore, Pkcs11KeyStore, Ceremony],
) -> None:
    first, second, ceremony = sites
    archive, _ = two_key_archive(first, ceremony.check)
    data = json.loads(archive.to_json())
    data["keys"][2]["algorithm"] = 10  # the attack: 8 edited to 10
    edited = KeyArchive.from_json(json.dumps(data), "keys.json")
    with pytest.raises(KeyStoreError, match="does not verify under SMK"):
        restore(second, edited)
    flipped = bytearray(archive.keys[1].wrapped)
    flipped[-1] ^= 1
    keys = list(archive.keys)
    keys[1] = dataclasses.replace(keys[1], wrapped=bytes(flipped))
    with pytest.raises(KeyStoreError, match="does not verify under SMK"):
        restore(second, dataclasses.replace(archive, keys=tuple(keys)))
    mac_key = bytearray(archive.mac_key)
    mac_key[3] ^= 1
    with pytest.raises(KeyStoreError, match="does not verify under SMK"):
        restore(second, dataclasses.replace(archive, mac_key=bytes(mac_key)))
    with pytest.raises(KeyStoreError, match="does not verify under SMK"):
        restore(second, dataclasses.replace(archive, mac=b""))
    assert second.list_keys() == []


def test_a_restore_failing_at_its_third_key_leaves_nothing_and_can_be_run_again(
    sites: tuple[Pkcs11KeyStore, Pkcs11KeyStore, Ceremony],
) -> None:
    first, second, ceremony = sites
    archive, ids = two_key_archive(first, ceremony.check)
    a, b, c = archive.keys
    # An archive whose MAC verifies (made in an HSM holding the SMK) but whose third
    # entry is the private half of another key: it fails only when unwrapped.
    bad = dataclasses.replace(archive, keys=(a, b, dataclasses.replace(c, wrapped=a.wrapped)))
    mac_key, mac = first.mac_under_smk(ceremony.check, bad.signed_bytes())
    bad = dataclasses.replace(bad, mac_key=mac_key, mac=mac)
    with pytest.raises(KeyStoreError, match="not the private half of its public key"):
        restore(second, bad)
    assert second.list_keys() == []  # the first two were removed again

    # Interrupted after two keys (here: an archive of the first two), then run again.
    restore(second, back_up(first, ceremony.check, NOW, ids[:2]))
    result = restore(second, archive)
    assert [k.key_id for k in result.restored] == [ids[2]]
    assert [k.key_id for k in result.present] == ids[:2]
    again = restore(second, archive)
    assert again.restored == () and len(again.present) == 3

    # A different key under an archived id: refused before anything is created.
    second.delete_key(ids[2])
    second.delete_key(ids[0])
    other = second.generate_key(label="x", algorithm=Algorithm.RSASHA256, bits=1024)
    clash = dataclasses.replace(
        archive, keys=(dataclasses.replace(a, key=dataclasses.replace(a.key, key_id=other.key_id)),)
    )
    mac_key, mac = first.mac_under_smk(ceremony.check, clash.signed_bytes())
    with pytest.raises(KeyStoreError, match=f"holds another key under id {other.key_id}"):
        restore(second, dataclasses.replace(clash, mac_key=mac_key, mac=mac))
    assert {k.key_id for k in second.list_keys()} == {ids[1], other.key_id}


def test_an_unreadable_archive_is_named() -> None:
    with pytest.raises(KeyStoreError, match=r"backup\.json: not a readable key archive"):
        KeyArchive.from_json("{}", "backup.json")
    with pytest.raises(KeyStoreError, match=r"backup\.json: not a readable key archive"):
        KeyArchive.from_json("not json", "backup.json")
    text = KeyArchive("00" * 8, NOW, ()).to_json().replace('"keys": []', '"keys": [{}]')
    with pytest.raises(KeyStoreError, match="'key_id'"):
        KeyArchive.from_json(text, "backup.json")


def test_a_written_archive_is_checked_by_unwrapping_each_key_in_a_scratch_object(
    sites: tuple[Pkcs11KeyStore, Pkcs11KeyStore, Ceremony],
) -> None:
    first, _, ceremony = sites
    archive, ids = two_key_archive(first, ceremony.check)
    check_archive(first, archive, unwrap=True)
    assert sorted(k.key_id for k in first.list_keys()) == sorted(ids)  # nothing left over
    a, b, c = archive.keys
    swapped = dataclasses.replace(archive, keys=(a, dataclasses.replace(b, wrapped=c.wrapped)))
    mac_key, mac = first.mac_under_smk(ceremony.check, swapped.signed_bytes())
    swapped = dataclasses.replace(swapped, mac_key=mac_key, mac=mac)
    check_archive(first, swapped)  # the MAC alone cannot tell
    with pytest.raises(KeyStoreError, match=f"wrapped copy of key {b.key.key_id} is not its"):
        check_archive(first, swapped, unwrap=True)
