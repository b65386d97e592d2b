"""IXFR differences (RFC 1995 4): computed from two signed zone files, written, read back,
and applied to the older version they give exactly the newer one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.distribute.conftest import DOMAINS, DS2, ORIGIN, ZoneMaker
from tldsec.distribute.ixfr import WireDiff, diff_files, read_diff, write_diff
from tldsec.distribute.records import ZoneVersion, line_to_wire
from tldsec.errors import ZoneSyntaxError


def changed(domains: dict[str, str]) -> dict[str, str]:
    new = dict(domains)
    new["d1"] = DS2  # a DS added
    new.pop("d5")  # a delegation removed
    new["d3"] = ""  # a DS removed
    new["new-one"] = DS2
    return new


def test_condensed_difference_between_two_serials(zones: ZoneMaker, tmp_path: Path) -> None:
    old = zones.write(tmp_path / "100.zone", 100, DOMAINS)
    new = zones.write(tmp_path / "101.zone", 101, changed(DOMAINS))
    diff = diff_files(old, new, ORIGIN)
    assert (diff.from_serial, diff.to_serial) == (100, 101)
    assert " 100 " in diff.old_soa and " 101 " in diff.new_soa
    deleted, added = "\n".join(diff.deleted), "\n".join(diff.added)
    assert "d5.example.\t86400\tIN\tNS\tns1.hoster.net." in deleted
    assert "d3.example.\t86400\tIN\tDS\t12345 8 2" in deleted
    assert "d1.example.\t86400\tIN\tDS\t54321 13 2" in added
    assert "new-one.example.\t86400\tIN\tNS" in added
    # The SOA is in neither list: it heads each half of the sequence (RFC 1995 4).
    assert not any("\tSOA\t" in line for line in diff.deleted + diff.added)
    # Unchanged records are in neither.
    assert not any(line.startswith("d7.example.") for line in diff.deleted + diff.added)


def test_applying_the_difference_gives_the_new_zone(zones: ZoneMaker, tmp_path: Path) -> None:
    old = zones.write(tmp_path / "100.zone", 100, DOMAINS)
    new = zones.write(tmp_path / "101.zone", 101, changed(DOMAINS))
    diff = WireDiff.from_diff(diff_files(old, new, ORIGIN))
    before = ZoneVersion.from_file(old, ORIGIN)
    after = ZoneVersion.from_file(new, ORIGIN)
    assert diff.old_soa == before.soa and diff.new_soa == after.soa
    applied = before.apply(101, diff.new_soa, diff.deleted, diff.added)
    assert applied.serial == 101 and applied.soa == after.soa
    assert sorted(applied.records) == sorted(after.records)


def test_written_and_read_back(zones: ZoneMaker, tmp_path: Path) -> None:
    old = zones.write(tmp_path / "100.zone", 100, DOMAINS)
    new = zones.write(tmp_path / "101.zone", 101, changed(DOMAINS))
    diff = diff_files(old, new, ORIGIN)
    path = tmp_path / "100-101.ixfr"
    write_diff(diff, path)
    assert path.read_text().startswith("; tldsec IXFR example. 100 -> 101\n")
    assert read_diff(path) == diff


def test_a_file_that_is_not_a_difference_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.ixfr"
    path.write_text("example. 3600 IN NS a.example.\n")
    with pytest.raises(ZoneSyntaxError, match="not a tldsec IXFR"):
        read_diff(path)
    path.write_text("; tldsec IXFR example. 1 -> 2\nexample.\t3600\tIN\tNS\ta.example.\n")
    with pytest.raises(ZoneSyntaxError, match="exactly two SOA"):
        read_diff(path)


def test_a_zone_file_line_becomes_one_wire_record() -> None:
    rtype, wire = line_to_wire("d1.example.\t86400\tIN\tNS\tns1.hoster.net.")
    assert rtype == 2
    assert wire == (
        b"\x02d1\x07example\x00"
        + b"\x00\x02\x00\x01\x00\x01\x51\x80\x00\x10"
        + b"\x03ns1\x06hoster\x03net\x00"
    )
    with pytest.raises(ValueError, match="not an 'owner TTL IN TYPE RDATA' line"):
        line_to_wire("d1.example. NS ns1.hoster.net.")
