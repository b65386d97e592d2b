"""Verification on every core: forked workers check the RRSIGs and re-sign with dnspython,
each with its own key-store session, and report failures from any part of the zone."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.verify.conftest import NOW, UNSIGNED, Keys
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import Zone
from tldsec.dnscore.zonefile import write_zone_atomic
from tldsec.hsm.open import open_keystore
from tldsec.verify.driver import verify_zone
from tldsec.verify.options import VerifyOptions, VerifyRequest
from tldsec.verify.report import Report
from tldsec.verify.workers import PARALLEL_MIN_ITEMS, ForkedMap

DELEGATIONS = PARALLEL_MIN_ITEMS + 100


@pytest.fixture(scope="module")
def big(keys: Keys) -> Zone:
    text = UNSIGNED + "".join(f"d{i} NS ns.hoster.net.\n" for i in range(DELEGATIONS))
    return keys.sign(text)


def _verify(keys: Keys, zone: Zone, tmp_path: Path, workers: int) -> Report:
    path = tmp_path / "big.signed"
    write_zone_atomic(zone, path)
    anchor = tmp_path / "ds"
    anchor.write_text(keys.ds())
    return verify_zone(
        VerifyRequest(path, "example.", anchor),
        VerifyOptions(policy=keys.policy, external=(), second_sample=None, workers=workers),
        NOW,
        keystore=keys.store,
        opener=open_keystore,
    )


def test_forked_workers_verify_the_whole_zone(keys: Keys, big: Zone, tmp_path: Path) -> None:
    report = _verify(keys, big, tmp_path, workers=2)
    assert report.passed, report.summary()
    sigs = report.check("signatures")
    assert "with 2 worker(s)" in sigs.notes[0]
    second = report.check("second-implementation")
    assert "all" in second.notes[0] and "with 2 worker(s)" in second.notes[0]


def test_failures_found_by_workers_are_all_reported(keys: Keys, big: Zone, tmp_path: Path) -> None:
    zone = copy.deepcopy(big)
    broken = 0
    for rrset in zone.rrsets():
        if rrset.rtype == RRType.NSEC3 and broken < 150:
            sig = bytearray(rrset.sigs[0])
            sig[-1] ^= 1
            rrset.sigs = [bytes(sig)]
            broken += 1
    report = _verify(keys, zone, tmp_path, workers=2)
    sigs = report.check("signatures")
    assert sigs.failures == 150 and len(sigs.findings) == 100
    second = report.check("second-implementation")
    assert second.failures == 150


def test_a_forked_map_returns_results_in_order() -> None:
    items = list(range(PARALLEL_MIN_ITEMS * 2))
    result = ForkedMap(lambda s, e: [x * 2 for x in items[s:e]], len(items), workers=2)
    assert result.workers == 2
    assert result.result() == [x * 2 for x in items]
    small = ForkedMap(lambda s, e: list(range(s, e)), 10, workers=2)
    assert small.workers == 1 and small.result() == list(range(10))
