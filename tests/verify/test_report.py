"""The report: every failure counted, the first hundred kept per check, a human summary
and a JSON document with each check, each failing record and the timings."""

from __future__ import annotations

import json

import pytest

from tldsec.verify.report import FINDINGS_CAP, CheckResult, Finding, Report, Status


def _report(*checks: CheckResult) -> Report:
    return Report(
        origin="example.",
        zone_file="example.signed",
        serial=7,
        checks=checks,
        verified_at="2026-01-01T00:00:00Z",
        seconds=1.25,
        meta={"workers": 2},
    )


def test_a_check_keeps_the_first_hundred_findings_and_counts_the_rest() -> None:
    findings = [Finding(f"n{i}.example.", "NS", "bad") for i in range(250)]
    result = CheckResult.from_findings("coverage", findings, 0.5)
    assert result.status is Status.FAILED
    assert result.failures == 250
    assert len(result.findings) == FINDINGS_CAP
    assert result.findings[0].owner == "n0.example."
    summary = _report(result).summary()
    assert "... and 150 more" in summary
    doc = json.loads(_report(result).to_json())
    assert doc["checks"][0]["findings_omitted"] == 150


def test_no_findings_is_a_pass_and_skipped_is_not_a_failure() -> None:
    ok = CheckResult.from_findings("ttl", [], 0.1)
    skipped = CheckResult.skipped("serial", "no previous zone given")
    report = _report(ok, skipped)
    assert ok.status is Status.PASSED and report.passed
    assert skipped.passed and skipped.notes == ("no previous zone given",)
    assert report.failed_checks == ()


def test_the_human_summary_names_the_verdict_each_check_and_each_failure() -> None:
    bad = CheckResult.from_findings(
        "signatures",
        [Finding("a.example.", "A", "RRSIG by key 1: expired at 2025-12-31T00:00:00Z")],
        2.0,
        notes=("10 RRSIGs verified",),
    )
    text = _report(CheckResult.from_findings("ttl", []), bad).summary()
    lines = text.splitlines()
    assert lines[0].startswith("verification of example. serial 7 (example.signed)")
    assert lines[0].endswith("FAILED in 1.2 s")
    assert "[ok  ] ttl" in lines[1]
    assert "[FAIL] signatures" in lines[2] and "1 failure(s)" in lines[2]
    assert lines[3] == "         - a.example. A: RRSIG by key 1: expired at 2025-12-31T00:00:00Z"
    assert lines[4] == "         * 10 RRSIGs verified"
    assert lines[-1] == "failed checks: signatures"


def test_the_json_report() -> None:
    bad = CheckResult.from_findings("content", [Finding("x.example.", "NS", "lost")], 0.25)
    doc = json.loads(_report(bad).to_json())
    assert doc["passed"] is False
    assert doc["failed_checks"] == ["content"]
    assert doc["serial"] == 7
    assert doc["meta"] == {"workers": 2}
    assert doc["checks"] == [
        {
            "name": "content",
            "status": "failed",
            "passed": False,
            "failures": 1,
            "findings": [{"owner": "x.example.", "type": "NS", "reason": "lost"}],
            "findings_omitted": 0,
            "notes": [],
            "seconds": 0.25,
        }
    ]


def test_a_result_that_contradicts_itself_cannot_exist() -> None:
    with pytest.raises(ValueError, match="passed with"):
        CheckResult("x", Status.PASSED, failures=1, findings=(Finding("", "", "r"),))
    with pytest.raises(ValueError, match="failed without"):
        CheckResult("x", Status.FAILED)
