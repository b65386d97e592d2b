"""A zone checked in parts on every core reports exactly what the whole-zone run
reports: the same checks, the same verdicts, the same failing records, for the valid
zone and for every fault of the corruption suite. A file that cannot be cut safely is
read whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.verify.conftest import ORIGIN, Case, Mutation, wire
from tests.verify.test_corruption import FAULTS
from tldsec.dnscore.types import RRType
from tldsec.verify.regions import HEAD_BYTES, plan_parts
from tldsec.verify.report import Report


def _verdicts(report: Report) -> dict[str, tuple[str, int, frozenset[str]]]:
    return {
        c.name: (c.status.value, c.failures, frozenset(str(f) for f in c.findings))
        for c in report.checks
    }


def test_the_valid_zone_in_parts(case: Case) -> None:
    report = case.verify(parts=True)
    assert report.passed, report.summary()
    assert str(report.meta["mode"]).startswith("in ")
    assert int(report.meta["parts"]) > 3  # type: ignore[call-overload]
    assert _verdicts(report) == _verdicts(case.verify())


@pytest.mark.parametrize("mutate", [pytest.param(m, id=name) for name, m, *_ in FAULTS])
def test_each_fault_is_reported_the_same_in_parts(case: Case, mutate: Mutation) -> None:
    mutate(case)
    whole = case.verify()
    parts = case.verify(parts=True)
    assert str(parts.meta["mode"]).startswith("in "), parts.meta
    assert _verdicts(parts) == _verdicts(whole)


def test_a_file_out_of_canonical_order_is_read_whole(case: Case) -> None:
    case.write()
    lines = case.signed.read_text().splitlines(keepends=True)
    case.signed.write_text("".join([lines[0], *reversed(lines[1:])]))
    report = case.verify(parts=True, write=False)
    assert report.meta["mode"] == "whole zone in one process, RRSIGs on every core"
    assert report.passed, report.summary()


@pytest.mark.parametrize(
    "change",
    [
        lambda text: text.replace("\n", "\n$TTL 60\n", 30),  # a directive after the header
        lambda text: text + 'txt.example.\t60\tIN\tTXT\t"x"\n',  # a quoted string
    ],
    ids=["late directive", "quoted string"],
)
def test_files_that_cannot_be_cut_are_not(tmp_path: Path, case: Case, change: object) -> None:
    case.write()
    path = tmp_path / "odd.zone"
    assert callable(change)
    path.write_text(change(case.signed.read_text()))
    assert plan_parts(path, ORIGIN, 300) is None
    assert plan_parts(case.signed, ORIGIN, 300) is not None


def test_a_header_longer_than_the_planner_reads_is_read_whole_with_the_same_verdicts(
    case: Case,
) -> None:
    # The planner reads the header with ``signedfile.skip_header`` from the first MiB:
    # a longer header is the one file it no longer cuts; the verdicts are the same.
    case.write()
    case.signed.write_text("; padding\n" * (HEAD_BYTES // 10 + 1) + case.signed.read_text())
    assert plan_parts(case.signed, ORIGIN, 300) is None
    report = case.verify(parts=True, write=False)
    assert report.meta["mode"] == "whole zone in one process, RRSIGs on every core"
    assert report.passed, report.summary()
    assert _verdicts(report) == _verdicts(case.verify(write=False))


def test_an_unsigned_zone_not_grouped_by_owner_is_still_compared_exactly(case: Case) -> None:
    # a.nic's AAAA away from its A: the unsigned zone cannot be digested in parts.
    lines = case.unsigned.read_text().splitlines(keepends=True)
    aaaa = next(line for line in lines if "AAAA" in line and line.startswith("a.nic"))
    lines.remove(aaaa)
    case.unsigned.write_text("".join([*lines, aaaa.replace("2001:db8::1", "2001:db8::2")]))
    parts = case.verify(parts=True)
    assert _verdicts(parts) == _verdicts(case.verify())
    [finding] = parts.check("content").findings
    assert str(finding) == (
        "a.nic.example. AAAA: lost 1 record(s): 2001:db8::2; added 1 record(s): 2001:db8::1"
    )


def test_a_syntax_error_in_a_part_is_reported_as_the_whole_run_reports_it(case: Case) -> None:
    case.write()
    lines = case.signed.read_text().splitlines(keepends=True)
    at = len(lines) // 2
    lines.insert(at, "broken.example.\t86400\tIN\tA\t192.0.2.300\n")
    case.signed.write_text("".join(lines))
    parts = case.verify(parts=True, write=False)
    assert _verdicts(parts) == _verdicts(case.verify(write=False))
    [finding] = parts.check("zone-file").findings
    assert f":{at + 1}: bad A RDATA" in finding.reason


def test_a_part_that_is_not_utf8_is_reported_as_the_whole_run_reports_it(case: Case) -> None:
    # Decision 70: the part's bytes are decoded inside the guard that names
    # UnicodeDecodeError; before, the worker's exception ended the run (never a report).
    case.write()
    lines = case.signed.read_bytes().splitlines(keepends=True)
    lines.insert(len(lines) // 2, b"broken.example.\t86400\tIN\tTXT\tcaf\xe9\n")
    case.signed.write_bytes(b"".join(lines))
    parts = case.verify(parts=True, write=False)
    assert _verdicts(parts) == _verdicts(case.verify(write=False))
    [finding] = parts.check("zone-file").findings
    assert "not UTF-8 text" in finding.reason


def test_an_unsigned_zone_that_is_not_utf8_fails_the_content_check_in_parts(case: Case) -> None:
    case.write()
    lines = case.unsigned.read_bytes().splitlines(keepends=True)
    lines.insert(len(lines) - 1, b"txt TXT caf\xe9\n")
    case.unsigned.write_bytes(b"".join(lines))
    for report in (case.verify(parts=True, write=False), case.verify(write=False)):
        assert report.failed_checks == ("content",)
        [finding] = report.check("content").findings
        assert finding.reason.startswith("unsigned zone unusable: ")


def test_a_zone_without_its_dnskey_rrset_is_reported_the_same_in_parts(case: Case) -> None:
    # Decision 55: one list of region checks. With no DNSKEY RRset nothing says who must
    # sign zone data: the whole-zone plan never listed every RRset's missing signer, and
    # the parts did (the chain of trust and the DNSKEY coverage fail either way).
    apex = case.zone.nodes[wire(ORIGIN)]
    apex[:] = [r for r in apex if r.rtype != RRType.DNSKEY]
    whole = case.verify()
    parts = case.verify(parts=True)
    assert str(parts.meta["mode"]).startswith("in "), parts.meta
    assert {"chain-of-trust", "coverage"} <= set(whole.failed_checks)
    assert _verdicts(parts) == _verdicts(whole)
