"""The resolver model used by the rollover proof catches what it must, and only that."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.keys.resolver_model import ParentHistory, Resolvers, ZoneHistory, ds_tuple
from tldsec.dnscore.names import to_wire
from tldsec.dnscore.zone import Zone
from tldsec.dnscore.zonefile import read_zone_text
from tldsec.hsm.base import KeyInfo
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.policy import Algorithm, load_policy
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.signer import sign_zone

T0 = datetime(2025, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)
ORIGIN = "example."
TEXT = """$ORIGIN example.
$TTL 86400
@ SOA ns1 hostmaster 1 7200 3600 1209600 3600
@ NS ns1
ns1 A 192.0.2.1
"""


@pytest.fixture(scope="module")
def store() -> MemoryKeyStore:
    return MemoryKeyStore()


@pytest.fixture(scope="module")
def keys(store: MemoryKeyStore) -> dict[str, KeyInfo]:
    return {
        "ksk": store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=2048),
        "zsk1": store.generate_key(label="zsk1", algorithm=Algorithm.RSASHA256, bits=1024),
        "zsk2": store.generate_key(label="zsk2", algorithm=Algorithm.RSASHA256, bits=1024),
    }


def sign(
    store: MemoryKeyStore, keys: dict[str, KeyInfo], when: datetime, zsks: dict[str, bool]
) -> Zone:
    """Sign with the KSK and the given ZSKs (name -> signs the zone)."""
    ksk = keys["ksk"]
    zone_keys = [ZoneKey(ksk.key_id, 257, ksk.algorithm, ksk.public_key, True, True, False)]
    for name, signs in zsks.items():
        k = keys[name]
        zone_keys.append(ZoneKey(k.key_id, 256, k.algorithm, k.public_key, True, False, signs))
    config = SigningConfig.from_policy(load_policy(), tuple(zone_keys))
    return sign_zone(read_zone_text(TEXT, ORIGIN), config, store, when).zone


def model(keys: dict[str, KeyInfo], ds: bool = True) -> tuple[ZoneHistory, Resolvers]:
    origin = to_wire(ORIGIN)
    parent = ParentHistory(86400, lag=H)
    ksk = keys["ksk"]
    parent.add(
        T0 - 10 * H,
        frozenset({ds_tuple(origin, b"\x01\x01\x03\x08" + ksk.public_key)}) if ds else frozenset(),
    )
    zone = ZoneHistory(origin, lag=H)
    return zone, Resolvers(zone, parent)


def test_a_steady_zone_validates(store: MemoryKeyStore, keys: dict[str, KeyInfo]) -> None:
    zone, resolvers = model(keys)
    zone.add(T0, sign(store, keys, T0, {"zsk1": True}))
    assert resolvers.check(T0) == []
    assert resolvers.check(T0 + 30 * H) == []
    assert resolvers.crypto_validations > 0


def test_switching_to_an_unpublished_zsk_is_caught(
    store: MemoryKeyStore, keys: dict[str, KeyInfo]
) -> None:
    zone, resolvers = model(keys)
    zone.add(T0, sign(store, keys, T0, {"zsk1": True}))
    zone.add(T0 + H, sign(store, keys, T0 + H, {"zsk2": True}))
    failures = resolvers.check(T0 + H)
    # the cached DNSKEY RRset of T0 lacks zsk2, which signs the new data
    assert any("model:" in f.what for f in failures)
    assert any("crypto:" in f.what for f in failures)
    # 13 h later (DNSKEY TTL 12 h + 1 h lag) no cache holds the old DNSKEY RRset, but
    # the old RRSIGs by zsk1 (TTL 1 day) now meet DNSKEY RRsets without zsk1
    assert resolvers.check(T0 + 15 * H)


def test_a_pre_published_switch_is_clean_and_post_publish_matters(
    store: MemoryKeyStore, keys: dict[str, KeyInfo]
) -> None:
    zone, resolvers = model(keys)
    zone.add(T0, sign(store, keys, T0, {"zsk1": True, "zsk2": False}))
    switch = T0 + 14 * H
    zone.add(switch, sign(store, keys, switch, {"zsk1": False, "zsk2": True}))
    assert resolvers.check(switch) == []
    removed = switch + 2 * H  # far too early: data signed by zsk1 is cached for a day
    zone.add(removed, sign(store, keys, removed, {"zsk2": True}))
    assert resolvers.check(removed)
    zone2, resolvers2 = model(keys)
    zone2.add(T0, sign(store, keys, T0, {"zsk1": True, "zsk2": False}))
    zone2.add(switch, sign(store, keys, switch, {"zsk1": False, "zsk2": True}))
    late = switch + 27 * H
    zone2.add(late, sign(store, keys, late, {"zsk2": True}))
    assert resolvers2.check(late) == []


def test_without_a_ds_the_zone_is_insecure_and_not_checked(
    store: MemoryKeyStore, keys: dict[str, KeyInfo]
) -> None:
    zone, resolvers = model(keys, ds=False)
    zone.add(T0, sign(store, keys, T0, {"zsk2": True}))
    assert resolvers.check(T0) == []
    assert resolvers.crypto_validations == 0


def test_expired_signatures_fail(store: MemoryKeyStore, keys: dict[str, KeyInfo]) -> None:
    zone, resolvers = model(keys)
    zone.add(T0, sign(store, keys, T0, {"zsk1": True}))
    failures = resolvers.check(T0 + timedelta(days=9))  # validity is at most 8 days
    assert failures and all("valid" in f.what or "expired" in f.what for f in failures)
