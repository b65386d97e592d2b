"""The distribution store: serials kept with their differences, one atomic commit point,
serials never going backwards, leftovers of a dead writer cleaned up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.distribute.conftest import DOMAINS, DS2, ZoneMaker, publish
from tldsec.distribute.store import ZoneStore, serial_gt
from tldsec.errors import DistributionError
from tldsec.signer.files import sign_zone_file
from tldsec.signer.zoneindex import ZoneIndex
from tldsec.zonefiles import ZoneFiles, stage


def test_serial_arithmetic_follows_rfc_1982() -> None:
    assert serial_gt(2, 1) and not serial_gt(1, 2) and not serial_gt(5, 5)
    assert serial_gt(0, 2**32 - 1)  # wraps around
    assert serial_gt(2**31 - 1 + 5, 5) and not serial_gt(2**31 + 5, 5)


def test_commits_keep_serials_and_differences(zones: ZoneMaker, tmp_path: Path) -> None:
    store = ZoneStore(tmp_path, "example.", keep=3)
    assert store.current() is None and store.current_path() is None
    publish(store, zones, 10, DOMAINS)
    assert store.current() == 10 and store.diffs() == {}
    for serial in (11, 12, 13, 14):
        publish(store, zones, serial, {**DOMAINS, f"n{serial}": DS2})
    assert store.current() == 14
    assert store.serials() == [14, 13, 12]  # keep = 3, newest first
    assert store.diffs() == {11: 12, 12: 13, 13: 14}
    assert store.chain(12, 14) == [(12, 13), (13, 14)]
    assert store.chain(10, 14) is None  # the history does not reach back
    assert store.chain(14, 14) == []
    diff = store.read_diff(13, 14)
    assert any(line.startswith("n14.example.") for line in diff.added)


def test_serials_never_go_backwards(zones: ZoneMaker, tmp_path: Path) -> None:
    store = ZoneStore(tmp_path, "example.")
    publish(store, zones, 20, DOMAINS)
    with store.writer():
        with pytest.raises(DistributionError, match="never go backwards"):
            store.stage_path(20)
        with pytest.raises(DistributionError, match="never go backwards"):
            store.stage_path(19)
        zones.write(store.zone_path(19), 19, DOMAINS)
        with pytest.raises(DistributionError, match="never go backwards"):
            store.commit(19)
        with pytest.raises(DistributionError, match="not staged"):
            store.commit(21)
    assert store.current() == 20


def test_a_dead_writers_leftovers_are_removed_by_the_next(zones: ZoneMaker, tmp_path: Path) -> None:
    store = ZoneStore(tmp_path, "example.")
    publish(store, zones, 30, DOMAINS)
    # A writer died after the gate renamed its zone in, before the commit, and another
    # one while the gate was still verifying its private copy.
    staged = zones.write(store.zone_path(31), 31, DOMAINS)
    (tmp_path / "31.zone.sigcache").write_bytes(b"x")
    (tmp_path / "30-31.ixfr").write_text("half")
    (tmp_path / ".32.zone.abc.verifying").write_text("half")
    (tmp_path / ".current.x.tmp").write_text("32")
    assert store.current() == 30
    with store.writer():
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".lock",
        "30.zone",
        "30.zone.sha256",
        "current",
    ]
    assert not staged.exists()
    publish(store, zones, 31, DOMAINS)
    assert store.current() == 31 and store.diffs() == {30: 31}


def test_one_writer_at_a_time(zones: ZoneMaker, tmp_path: Path) -> None:
    store = ZoneStore(tmp_path, "example.")
    other = ZoneStore(tmp_path, "example.")
    with (
        store.writer(),
        pytest.raises(DistributionError, match="another cycle"),
        other.writer(wait=False),
    ):
        pass
    with other.writer(wait=False):
        pass


def test_a_corrupt_pointer_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "current").write_text("garbage")
    with pytest.raises(DistributionError, match="no serial"):
        ZoneStore(tmp_path, "example.").current()
    with pytest.raises(ValueError, match="at least two"):
        ZoneStore(tmp_path, "example.", keep=1)


def test_publish_moves_the_candidates_side_files_to_its_serial(
    zones: ZoneMaker, tmp_path: Path
) -> None:
    """The store owns the files: the serial gets the index (bound to the published copy)
    and the input copy the next cycle patches from; the candidate and its files go."""
    assert zones.config is not None
    work, store = tmp_path / "work", ZoneStore(tmp_path / "store", "example.")
    work.mkdir()
    publish(store, zones, 40, DOMAINS)
    unsigned = work / "in.zone"
    unsigned.write_text(zones.text(41, DOMAINS))
    candidate = work / "candidate.zone"
    sign_zone_file(unsigned, candidate, "example.", zones.config, zones.store, zones.now)
    assert ZoneFiles(candidate).index.exists() and ZoneFiles(candidate).unsigned.exists()
    with store.writer():
        stage(candidate, store.stage_path(41)).publish()  # the gate's part
        store.publish(41, candidate)
    assert store.current() == 41 and store.diffs() == {40: 41}
    files = store.files(41)
    index = ZoneIndex.load_for(files.zone)  # bound to the published copy and its input
    assert index is not None and files.unsigned.read_bytes() == unsigned.read_bytes()
    assert files.digest.exists()
    assert sorted(p.name for p in work.iterdir()) == ["in.zone"]
