"""The gate's insecure-by-design mode (DPS 4.6, decision 46): an unsigned zone passes only
with the zone fact of going insecure's last step, with no DNSSEC record left, no DS the
parent should still hold, and the content the registry built; without the fact it meets
the ordinary checks and is refused. Regression tests first: each way an unsigned TLD
could reach the name servers by mistake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.verify.conftest import NOW, ORIGIN, SERIAL, Case
from tldsec.errors import ZoneContentError
from tldsec.signer.unsigned import write_unsigned_zone
from tldsec.verify.gate import EVENT_PASSED, EVENT_REFUSED, GateResult
from tldsec.verify.insecure import InsecureByDesign
from tldsec.verify.options import VerifyOptions, VerifyRequest
from tldsec.zonegate import gate

SINCE = InsecureByDesign(NOW - timedelta(hours=1))


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, **details: Any) -> None:
        self.events.append((event, details))


def unsigned_candidate(case: Case, serial: int = SERIAL) -> Path:
    """The signer's unsigned publication of the case's unsigned zone (``serial`` set)."""
    source = case.dir / "input.zone"
    source.write_text(case.unsigned.read_text().replace(str(SERIAL), str(serial)))
    case.unsigned.write_text(source.read_text())
    out = case.dir / "candidate.zone"
    write_unsigned_zone(source, out, ORIGIN, header="test")
    return out


def run(
    case: Case,
    candidate: Path,
    fact: InsecureByDesign | None,
    *,
    anchor_text: str = "",
    previous: Path | None = None,
    recorder: Recorder | None = None,
) -> GateResult:
    anchor = case.dir / "anchor.ds"
    anchor.write_text(anchor_text)
    target = case.dir / "published" / "example.zone"
    target.parent.mkdir(exist_ok=True)
    return gate(
        VerifyRequest(candidate, ORIGIN, anchor, unsigned=case.unsigned, previous=previous),
        VerifyOptions(policy=case.keys.policy, external=(), second_sample=50),
        NOW,
        publish_to=target,
        keystore=case.keys.store,
        recorder=recorder,
        insecure=fact,
    )


def test_an_unsigned_zone_without_the_zone_fact_is_refused(case: Case) -> None:
    """A configuration typo, a signer fault or a swapped file: the gate never publishes
    an unsigned TLD unless the key manager recorded going insecure's last step."""
    candidate = unsigned_candidate(case)
    recorder = Recorder()
    result = run(case, candidate, None, anchor_text=case.keys.ds(), recorder=recorder)
    assert not result.passed and result.published is None
    assert "chain-of-trust" in result.report.failed_checks
    assert recorder.events[0][0] == EVENT_REFUSED
    # Even with an empty anchor (nothing at the parent) the ordinary checks refuse it.
    result = run(case, candidate, None)
    assert not result.passed and result.published is None


def test_the_insecure_mode_refuses_a_zone_with_any_dnssec_record(case: Case) -> None:
    case.write()  # the good signed zone, handed over as if it were the unsigned one
    result = run(case, case.signed, SINCE)
    assert not result.passed and result.published is None
    check = result.report.check("no-dnssec")
    assert not check.passed
    kinds = {f.rtype for f in check.findings}
    assert {"DNSKEY", "RRSIG", "NSEC3PARAM"} <= kinds
    # The content check still compares everything else with the unsigned input: passed.
    assert result.report.check("content").passed


def test_the_insecure_mode_refuses_while_the_parent_should_hold_a_ds(case: Case) -> None:
    candidate = unsigned_candidate(case)
    result = run(case, candidate, SINCE, anchor_text=case.keys.ds())
    assert not result.passed
    check = result.report.check("insecure-by-design")
    assert "finds the unsigned zone bogus" in check.findings[0].reason


def test_the_insecure_mode_refuses_a_fact_from_the_future(case: Case) -> None:
    candidate = unsigned_candidate(case)
    result = run(case, candidate, InsecureByDesign(NOW + timedelta(seconds=1)))
    assert not result.passed and "insecure-by-design" in result.report.failed_checks


def test_the_insecure_mode_refuses_content_the_registry_did_not_build(case: Case) -> None:
    candidate = unsigned_candidate(case)
    text = candidate.read_text().replace("192.0.2.53", "203.0.113.53")
    candidate.write_text(text)
    result = run(case, candidate, SINCE)
    assert result.report.failed_checks == ("content",)


def test_the_insecure_mode_refuses_a_serial_that_did_not_increase(case: Case) -> None:
    previous = unsigned_candidate(case, SERIAL + 5)
    kept = case.dir / "previous.zone"
    previous.rename(kept)
    candidate = unsigned_candidate(case, SERIAL + 1)
    result = run(case, candidate, SINCE, previous=kept)
    assert result.report.failed_checks == ("serial",)


def test_an_unsigned_zone_with_the_fact_passes_and_is_recorded_as_insecure_by_design(
    case: Case,
) -> None:
    candidate = unsigned_candidate(case)
    recorder = Recorder()
    result = run(case, candidate, SINCE, recorder=recorder)
    assert result.passed, result.report.summary()
    assert result.published is not None
    assert result.published.read_bytes() == candidate.read_bytes()
    meta = result.report.meta
    assert meta["security"] == "insecure-by-design"
    assert meta["verification"]["mode"] == "insecure-by-design"
    assert meta["unsigned_since"] == SINCE.since.isoformat()
    [(event, details)] = recorder.events
    assert event == EVENT_PASSED and details["mode"] == "insecure-by-design"
    assert details["checks"]["no-dnssec"] == "passed"
    assert details["checks"]["external-validators"] == "skipped"


def test_the_signer_refuses_to_pass_dnssec_records_on_unsigned(case: Case) -> None:
    case.write()
    with pytest.raises(ZoneContentError, match="only a signer adds"):
        write_unsigned_zone(case.signed, case.dir / "out.zone", ORIGIN)
    assert not (case.dir / "out.zone").exists()
