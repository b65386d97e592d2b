"""The gate (DPS 6.6, 4.5.1): a zone that passes is published atomically, byte for byte
what was verified; one that fails is not, the last good zone stays, and the refusal is
logged and recorded as an incident."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.verify.conftest import NOW, Case
from tldsec.dnscore.types import RRType
from tldsec.errors import ConfigError, VerificationFailed
from tldsec.filedigest import digest_file, load_record
from tldsec.verify.gate import EVENT_PASSED, EVENT_REFUSED
from tldsec.verify.options import VerifyOptions, VerifyRequest
from tldsec.zonefiles import STATE_NAME
from tldsec.zonegate import gate


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, **details: Any) -> None:
        self.events.append((event, details))


def _run(case: Case, publish_to: Path, recorder: Recorder | None = None) -> Any:
    case.write()
    return gate(
        VerifyRequest(case.signed, "example.", case.anchor, unsigned=case.unsigned),
        VerifyOptions(policy=case.keys.policy, external=(), second_sample=50),
        NOW,
        publish_to=publish_to,
        keystore=case.keys.store,
        recorder=recorder,
    )


def test_a_passing_zone_is_published_and_recorded(case: Case, tmp_path: Path) -> None:
    target = tmp_path / "published" / "example.zone"
    target.parent.mkdir()
    target.write_text("; the last good zone\n")
    recorder = Recorder()
    result = _run(case, target, recorder)
    assert result.passed and result.published == target
    assert target.read_bytes() == case.signed.read_bytes()
    # No staged copy left behind; beside the zone, the record the next run builds on.
    # And the digest of the bytes verified, which whoever reuses them checks first.
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "example.zone",
        "example.zone.sha256",
        STATE_NAME,
    ]
    assert load_record(target) == digest_file(target)
    result.raise_if_refused()
    [(event, details)] = recorder.events
    assert event == EVENT_PASSED
    assert details["actor"] == "component:verifier"
    assert details["serial"] == 2024010100
    assert details["published_to"] == str(target)
    assert details["checks"]["signatures"] == "passed"
    assert details["sha256"] == hashlib.sha256(case.signed.read_bytes()).hexdigest()


def test_a_failing_zone_is_refused_and_the_last_good_zone_stays(
    case: Case, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "published.zone"
    target.write_text("; the last good zone\n")
    case.rrset("orphan.gone", RRType.A).sigs = []
    recorder = Recorder()
    with caplog.at_level(logging.ERROR, logger="tldsec.verify.gate"):
        result = _run(case, target, recorder)
    assert not result.passed and result.published is None
    assert target.read_text() == "; the last good zone\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "example.ds",
        "example.signed",
        "example.zone",
        "published.zone",
    ]
    [(event, details)] = recorder.events
    assert event == EVENT_REFUSED
    assert details["failed_checks"] == {"coverage": 1}
    assert "orphan.gone.example. A: not signed" in details["first_finding"]
    [line] = caplog.records
    assert line.getMessage().startswith("INCIDENT verification gate refused example. serial")
    assert "the last good zone at" in line.getMessage()
    with pytest.raises(VerificationFailed, match=r"failed verification \(coverage\)"):
        result.raise_if_refused()


def test_the_published_zone_is_the_copy_that_was_verified(case: Case, tmp_path: Path) -> None:
    # Changing the candidate after the gate staged it cannot change what is published.
    target = tmp_path / "published.zone"
    result = _run(case, target)
    assert result.passed
    case.signed.write_text("tampered\n")
    assert target.read_text() != "tampered\n"


def test_the_candidate_cannot_be_the_published_file(case: Case) -> None:
    case.write()
    with pytest.raises(ConfigError, match="is the published file itself"):
        _run(case, case.signed)


def test_without_a_target_the_gate_only_verifies_and_logs(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    case.write()
    with caplog.at_level(logging.INFO, logger="tldsec.verify.gate"):
        result = gate(
            VerifyRequest(case.signed, "example.", case.anchor),
            VerifyOptions(policy=case.keys.policy, external=(), second_sample=0),
            NOW,
        )
    assert result.passed and result.published is None
    assert "passed every check; not published (no target)" in caplog.text
