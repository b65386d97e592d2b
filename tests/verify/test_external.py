"""External validators from other vendors (DPS 6.6): ldns-verify-zone (NLnet Labs),
dnssec-verify (ISC), kzonecheck (CZ.NIC), validns; their verdicts are part of the
report. The Debian packages are installed by scripts/install-debian-deps."""

from __future__ import annotations

import shutil

import pytest

from tests.verify.conftest import NOW, Case
from tldsec.dnscore.types import RRType
from tldsec.verify import external
from tldsec.verify.external import ExternalRun, Invocation
from tldsec.verify.report import Status

ALL = ("ldns-verify-zone", "dnssec-verify", "kzonecheck", "validns")


def _inv(case: Case) -> Invocation:
    case.write()
    return Invocation(case.signed, "example.", case.anchor, int(NOW.timestamp()), 2 * 86400)


@pytest.mark.parametrize("tool", ALL)
def test_every_validator_is_installed(tool: str) -> None:
    assert shutil.which(tool), f"{tool} is missing: run scripts/install-debian-deps"


def test_a_valid_zone_passes_every_check_including_the_external_validators(
    case: Case,
) -> None:
    report = case.verify(external=ALL)
    assert report.passed, report.summary()
    names = [c.name for c in report.checks]
    assert names[-4:] == [f"external:{t}" for t in ALL]
    assert all(c.status is Status.PASSED for c in report.checks if c.name != "serial")
    ldns = report.check("external:ldns-verify-zone")
    assert ldns.notes[0].startswith("$ ldns-verify-zone -V 2 -k ")  # the DS trust anchor


def test_each_validator_rejects_a_corrupted_signature(case: Case) -> None:
    r = case.rrset("secure", RRType.DS)
    sig = bytearray(r.sigs[0])
    sig[-3] ^= 0x40
    r.sigs = [bytes(sig)]
    results = ExternalRun(ALL, _inv(case), timeout=120).results()
    for result in results:
        assert result.status is Status.FAILED, result
        assert "rejects the zone (exit status" in result.findings[0].reason
    ldns = results[0]
    assert any("secure.example." in f.reason for f in ldns.findings[1:]), ldns


def test_ldns_checks_the_chain_from_the_trust_anchor(case: Case) -> None:
    text = case.anchor.read_text()
    case.anchor.write_text(text.replace(text.split()[-1], "00" * 32))
    [result] = ExternalRun(["ldns-verify-zone"], _inv(case), timeout=120).results()
    assert result.status is Status.FAILED


def test_a_validator_that_is_not_installed_is_skipped_not_passed(case: Case) -> None:
    [result] = ExternalRun(["kzonecheck"], _inv(case), 60, which=lambda _: None).results()
    assert result.status is Status.SKIPPED
    assert result.notes == ("kzonecheck is not installed",)


def test_an_unknown_validator_fails(case: Case) -> None:
    [result] = ExternalRun(["zonemaster"], _inv(case), 60).results()
    assert result.status is Status.FAILED
    assert "unknown validator 'zonemaster'" in result.findings[0].reason


def test_a_validator_that_hangs_is_stopped_and_fails(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(external.TOOLS, "slow", lambda inv: ["sleep", "30"])
    [result] = ExternalRun(["slow"], _inv(case), timeout=0.3).results()
    assert result.status is Status.FAILED
    assert result.findings[0].reason == "slow did not finish within 0.3 s"
