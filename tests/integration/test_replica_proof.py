"""Replica proof on two real SoftHSM2 tokens standing in for two sites (issue 14 item 5):
each HSM signs a fresh challenge with each key, verified against the published DNSKEY
RDATA; a key the second site lacks, or holds as another key under its id, is caught."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from pkcs11 import KeyType

from tests.hsm.test_backup import Ceremony, create_smk, install
from tldsec.dnscore.dnskey import dnskey_rdata
from tldsec.errors import KeyStoreUnavailable
from tldsec.hsm import p11lib
from tldsec.hsm.backup import back_up, restore
from tldsec.hsm.base import KeyInfo, KeyStoreSpec
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.hsm.replicas import (
    DIFFERENT,
    MISSING,
    PROVEN,
    UNREACHABLE,
    ExpectedKey,
    prove,
)
from tldsec.policy import Algorithm

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def expected(key: KeyInfo, flags: int, in_zone: bool = True) -> ExpectedKey:
    """The key as the zone publishes it: its DNSKEY RDATA (RFC 4034 2.1)."""
    rdata = dnskey_rdata(flags, int(key.algorithm), key.public_key)
    return ExpectedKey(key.key_id, key.label, rdata, in_zone)


def plant_other_key(spec: KeyStoreSpec, key_id: str) -> None:
    """The second site's HSM holds another key pair under this key's id."""
    assert spec.module is not None and spec.token_label and spec.pin
    user = p11lib.open_user_session(spec.module, spec.softhsm2_conf, spec.token_label, spec.pin)
    try:
        user.session.generate_keypair(
            KeyType.RSA, 1024, id=bytes.fromhex(key_id), label="not-ours", store=True
        )
    finally:
        p11lib.close_user_session(user)


@pytest.fixture
def two_sites(
    softhsm_token: Callable[[], KeyStoreSpec],
) -> Iterator[tuple[Pkcs11KeyStore, Pkcs11KeyStore, KeyStoreSpec, Ceremony]]:
    a, b = softhsm_token(), softhsm_token()
    ceremony = create_smk(a)
    install(b, ceremony, 2, 3, 4)
    first, second = Pkcs11KeyStore(a), Pkcs11KeyStore(b)
    try:
        yield first, second, b, ceremony
    finally:
        first.close()
        second.close()


def test_a_missing_and_a_different_key_on_the_second_site_are_caught(
    two_sites: tuple[Pkcs11KeyStore, Pkcs11KeyStore, KeyStoreSpec, Ceremony],
) -> None:
    first, second, second_spec, ceremony = two_sites
    ksk = first.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=2048)
    zsk = first.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    standby = first.generate_key(label="standby", algorithm=Algorithm.RSASHA256, bits=1024)
    restore(second, back_up(first, ceremony.check, NOW))  # the second site gets all three
    keys = [expected(ksk, 257), expected(zsk, 256), expected(standby, 256, in_zone=False)]

    report = prove({"keystore": first, "replica site2": second}, keys, NOW)
    assert {p.verdict for p in report.proofs} == {PROVEN}
    assert report.incidents == () and report.proven_everywhere() == {k.key_id for k in keys}

    # the second site loses the ZSK, and holds another key under the standby's id
    second.delete_key(zsk.key_id)
    second.delete_key(standby.key_id)
    plant_other_key(second_spec, standby.key_id)
    report = prove({"keystore": first, "replica site2": second}, keys, NOW)
    verdicts = {(p.hsm, p.key_id): p.verdict for p in report.proofs}
    assert verdicts == {
        ("keystore", ksk.key_id): PROVEN,
        ("keystore", zsk.key_id): PROVEN,
        ("keystore", standby.key_id): PROVEN,
        ("replica site2", ksk.key_id): PROVEN,
        ("replica site2", zsk.key_id): MISSING,
        ("replica site2", standby.key_id): DIFFERENT,
    }
    # a key of the zone missing is an incident; another key under an id always is
    assert {(p.key_id, p.verdict) for p in report.incidents} == {
        (zsk.key_id, MISSING),
        (standby.key_id, DIFFERENT),
    }
    assert report.proven_everywhere() == {ksk.key_id}  # the others stay out of the zone


def test_a_key_not_yet_on_the_replica_waits_and_an_unreachable_replica_is_named(
    softhsm_store: Pkcs11KeyStore,
) -> None:
    new = softhsm_store.generate_key(label="new", algorithm=Algorithm.RSASHA256, bits=1024)
    down = KeyStoreUnavailable("no token labelled 'site2' in PKCS#11 module M")
    other = Pkcs11KeyStore(softhsm_store.spec)  # stands in for an HSM without the key
    keys = [expected(new, 256, in_zone=False)]
    try:
        other.delete_key(new.key_id)
        report = prove({"keystore": other, "replica site2": down}, keys, NOW)
    finally:
        other.close()
    assert [p.verdict for p in report.proofs] == [MISSING, UNREACHABLE]
    assert report.incidents == ()  # a new key waiting is not an incident ...
    assert len(report.waiting) == 2 and report.proven_everywhere() == frozenset()  # ... nor in
    assert "no token labelled 'site2'" in report.proofs[1].detail
