"""A one-zone home's cycle files move into zones/NAME/ (decision 57, zonehome.py): by
rename, so every file keeps its inode, mtime and bytes (the gate's verify-state stays
true), once, under the store's lock, finishing a move cut short; a zone named like a
legacy entry (the TLD ``work``) and a target in the way are handled."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest

from tests.fixtures.homes import HOMES, ONE_ZONE
from tldsec.errors import ConfigError, DistributionError
from tldsec.zonehome import (
    LEGACY,
    ZoneHome,
    legacy_entries,
    move_into_zone_dir,
    move_store,
    zone_dir_name,
)


@pytest.fixture
def zones(tmp_path: Path) -> Path:
    """The frozen 0.1.0 home's zones/ (cycle.json, last-report.json, reports, work, dist)."""
    target = tmp_path / "zones"
    shutil.copytree(HOMES / ONE_ZONE / "zones", target, symlinks=True)
    return target


def snapshot(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file below ``directory``: (inode, mtime_ns, bytes), by relative path."""
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(directory))] = (st.st_ino, st.st_mtime_ns, path.read_bytes())
    return out


def test_the_frozen_homes_files_move_with_their_inodes_and_mtimes(zones: Path) -> None:
    before = snapshot(zones)
    assert legacy_entries(zones, "example.") == [
        "cycle.json", "last-report.json", "reports", "work", "dist",
    ]  # fmt: skip
    moved = move_into_zone_dir(zones, "example.")
    assert moved == ["cycle.json", "last-report.json", "reports", "work", "dist"]
    home = ZoneHome(zones, "example.")
    assert sorted(p.name for p in zones.iterdir()) == ["example"]
    after = snapshot(home.root)
    assert {k: v for k, v in after.items() if not k.endswith(".lock")} == before
    assert home.cycle_state.is_file() and (home.dist / "current").is_file()
    assert home.work.is_dir() and home.reports.is_dir() and home.last_report.is_file()
    assert move_into_zone_dir(zones, "example.") == []  # once


def test_a_cycle_holding_the_store_refuses_the_move(zones: Path) -> None:
    fd = os.open(zones / "dist" / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(DistributionError, match=r"a cycle holds .*dist/\.lock"):
            move_into_zone_dir(zones, "example.")
    finally:
        os.close(fd)
    assert (zones / "cycle.json").is_file() and not (zones / "example").exists()


def test_a_zone_named_like_a_legacy_entry_moves_into_itself(zones: Path) -> None:
    """The TLD ``work``: zones/work (the cycle's work files) becomes zones/work/work."""
    unsigned = snapshot(zones / "work")
    assert move_into_zone_dir(zones, "work.")[-2:] == ["work", "dist"]
    home = ZoneHome(zones, "work.")
    assert home.root == zones / "work" and snapshot(home.work) == unsigned
    assert legacy_entries(zones, "work.") == [] and move_into_zone_dir(zones, "work.") == []


def test_a_move_cut_short_is_finished(zones: Path) -> None:
    stage = zones / ".moving-example"
    stage.mkdir()
    os.rename(zones / "cycle.json", stage / "cycle.json")  # then the process died
    assert move_into_zone_dir(zones, "example.") == ["last-report.json", "reports", "work", "dist"]
    assert ZoneHome(zones, "example.").cycle_state.is_file() and not stage.exists()
    stage.mkdir()  # died after every rename but the last
    os.rename(zones / "example", stage / "gone")
    os.rename(stage / "gone", zones / "gone")
    for entry in (zones / "gone").iterdir():
        os.rename(entry, stage / entry.name)
    (zones / "gone").rmdir()
    assert move_into_zone_dir(zones, "example.") == []
    assert ZoneHome(zones, "example.").dist.is_dir() and not stage.exists()


def test_a_target_in_the_way_is_refused_before_anything_moves(zones: Path) -> None:
    (zones / "example").mkdir()
    (zones / "example" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"example exists and cycle.json, .* by hand"):
        move_into_zone_dir(zones, "example.")
    assert (zones / "cycle.json").is_file()


def test_an_empty_zones_directory_has_nothing_to_move(tmp_path: Path) -> None:
    assert move_into_zone_dir(tmp_path, "example.") == []
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("origin", [".", "", "a/b.", ".hidden."])
def test_a_name_that_cannot_be_a_directory_is_refused(origin: str) -> None:
    with pytest.raises(ConfigError, match="cannot name a zone directory"):
        zone_dir_name(origin)


def test_the_paths_of_a_zone() -> None:
    home = ZoneHome(Path("/h/zones"), "Shop.")
    assert zone_dir_name("Shop.") == "shop" and home.root == Path("/h/zones/shop")
    assert home.quarantine == Path("/h/zones/shop/quarantine.json")
    assert set(LEGACY) >= {p.name for p in (home.cycle_state, home.work, home.dist)}


def test_a_store_the_settings_name_outside_the_zone_stays_and_its_lock_is_held(
    zones: Path,
) -> None:
    """``store_dir`` without ``{zone}`` (decision 66): the store is not moved, and a cycle
    holding that store's lock refuses the move of the rest."""
    store = zones / "dist"  # as [distribute] store_dir = "zones/dist" names it
    assert "dist" not in legacy_entries(zones, "example.", with_store=False)
    fd = os.open(store / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(DistributionError, match=r"a cycle holds .*dist/\.lock"):
            move_into_zone_dir(zones, "example.", store=store)
    finally:
        os.close(fd)
    current = snapshot(store)
    moved = move_into_zone_dir(zones, "example.", store=store)
    assert moved == ["cycle.json", "last-report.json", "reports", "work"]
    assert snapshot(store) == current and not ZoneHome(zones, "example.").dist.exists()


def test_an_old_default_store_outside_zones_dir_is_renamed_to_the_new_one(
    zones: Path, tmp_path: Path
) -> None:
    """A home whose ``[zone] zones_dir`` is not ``zones`` kept the old default store in
    the home's ``zones/dist``: ``move_store`` renames it (same inodes), once."""
    old, new = zones / "dist", tmp_path / "elsewhere" / "example" / "dist"
    before = snapshot(old)
    assert move_store(old, new)
    after = {k: v for k, v in snapshot(new).items() if k != ".lock"}  # the lock it took
    assert after == before and not old.exists()
    assert not move_store(old, new)  # done: nothing left to move
