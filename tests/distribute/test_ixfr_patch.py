"""IXFR differences read from a zone patch's edited ranges: the same ZoneDiff as the
whole-file diff, and the whole-file diff whenever the patch does not fit."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.distribute.conftest import DOMAINS, DS1, DS2, ORIGIN, ZoneMaker, publish
from tests.distribute.patches import make_patch, write_patch
from tldsec.distribute.ixfr import diff_files, diff_patched
from tldsec.distribute.store import ZoneStore
from tldsec.dnscore.zonepatch import Edit, ZonePatch, ZonePatchError, patch_path


def changed(domains: dict[str, str]) -> dict[str, str]:
    new = dict(domains)
    new["d1"] = DS2  # a DS added
    new.pop("d5")  # a delegation removed
    new["d3"] = ""  # a DS removed
    new["new-one"] = DS2
    return new


def test_the_patched_difference_is_the_whole_file_difference(
    zones: ZoneMaker, tmp_path: Path
) -> None:
    old = zones.write(tmp_path / "100.zone", 100, DOMAINS)
    new = zones.write(tmp_path / "101.zone", 101, changed(DOMAINS))
    patch = make_patch(old, new)
    assert patch.changed_bytes < new.stat().st_size // 2  # the test exercises a real patch
    assert diff_patched(old, new, patch, ORIGIN) == diff_files(old, new, ORIGIN)


_change = st.tuples(
    st.sampled_from([f"d{i}" for i in range(40)] + ["a0", "m-new", "zz"]),
    st.sampled_from(["", DS1, DS2, None]),  # None: the delegation goes
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_change, min_size=1, max_size=6))
def test_random_changes_give_identical_differences(
    zones: ZoneMaker,
    tmp_path_factory: pytest.TempPathFactory,
    changes: list[tuple[str, str | None]],
) -> None:
    directory = tmp_path_factory.mktemp("patch")
    domains = dict(DOMAINS)
    for name, extra in changes:
        if extra is None:
            domains.pop(name, None)
        else:
            domains[name] = extra
    old = zones.write(directory / "7.zone", 7, DOMAINS)
    new = zones.write(directory / "8.zone", 8, domains)
    patch = make_patch(old, new)
    assert diff_patched(old, new, patch, ORIGIN) == diff_files(old, new, ORIGIN)


def tamper(path: Path) -> None:
    """Change one byte of an unchanged record (d9's DS digest), keeping the size."""
    data = path.read_bytes()
    marker = b"d9.example.\t86400\tIN\tDS\t12345 8 2 49FD"
    assert data.count(marker) == 1
    path.write_bytes(data.replace(marker, marker[:-1] + b"E"))


def test_a_patch_that_lies_about_unchanged_bytes_is_refused(
    zones: ZoneMaker, tmp_path: Path
) -> None:
    old = zones.write(tmp_path / "100.zone", 100, DOMAINS)
    new = zones.write(tmp_path / "101.zone", 101, changed(DOMAINS))
    patch = make_patch(old, new)
    tamper(new)  # the patch no longer says every changed byte
    with pytest.raises(ZonePatchError, match="outside the patch's edits differ"):
        diff_patched(old, new, patch, ORIGIN)


def test_an_edit_that_splits_a_line_is_refused(zones: ZoneMaker, tmp_path: Path) -> None:
    old = zones.write(tmp_path / "100.zone", 100, DOMAINS)
    new = zones.write(tmp_path / "101.zone", 101, changed(DOMAINS))
    patch = make_patch(old, new)
    e = patch.edits[-1]
    shifted = Edit(e.old_start + 1, e.old_end, e.new_start + 1, e.new_end)
    bad = ZonePatch(patch.previous, patch.previous_size, patch.size, (*patch.edits[:-1], shifted))
    with pytest.raises(ZonePatchError, match="whole lines"):
        diff_patched(old, new, bad, ORIGIN)


def stage(store: ZoneStore, zones: ZoneMaker, serial: int, domains: dict[str, str]) -> Path:
    path = zones.write(store.stage_path(serial), serial, domains)
    current = store.current_path()
    assert current is not None
    write_patch(current, path)
    return path


def test_the_store_commits_with_the_staged_patch(zones: ZoneMaker, tmp_path: Path) -> None:
    store = ZoneStore(tmp_path, ORIGIN, keep=2)
    publish(store, zones, 40, DOMAINS)
    with store.writer():
        new = stage(store, zones, 41, changed(DOMAINS))
        expected = diff_files(store.zone_path(40), new, ORIGIN)
        assert store.commit(41) == expected
    assert store.read_diff(40, 41) == expected
    # Later serials prune the oldest zones with their patches.
    for serial in (42, 43):
        with store.writer():
            stage(store, zones, serial, DOMAINS if serial % 2 else changed(DOMAINS))
            store.commit(serial)
    assert not store.zone_path(41).exists()
    assert not patch_path(store.zone_path(41)).exists()
    assert patch_path(store.zone_path(43)).exists()


def test_the_store_uses_the_patch_and_falls_back_when_it_lies(
    zones: ZoneMaker, tmp_path: Path
) -> None:
    """A patch that leaves out a changed record: taken on trust (``patch_checked``), the
    difference misses that change (so the patch is what was read); checked, the store
    diffs the whole files."""
    for trusted, serial in ((True, 51), (False, 52)):
        store = ZoneStore(tmp_path / str(serial), ORIGIN)
        publish(store, zones, 50, DOMAINS)
        with store.writer():
            new = stage(store, zones, serial, changed(DOMAINS))
            tamper(new)
            whole = diff_files(store.zone_path(50), new, ORIGIN)
            diff = store.commit(serial, patch_checked=trusted)
        assert diff is not None
        if not trusted:
            assert diff == whole
        else:
            assert diff.changes < whole.changes


def test_a_staged_patch_of_a_dead_writer_is_cleaned_up(zones: ZoneMaker, tmp_path: Path) -> None:
    store = ZoneStore(tmp_path, ORIGIN)
    publish(store, zones, 60, DOMAINS)
    staged = zones.write(store.zone_path(61), 61, DOMAINS)
    write_patch(store.zone_path(60), staged)
    with store.writer():
        pass
    assert not staged.exists() and not patch_path(staged).exists()
    assert store.current() == 60
