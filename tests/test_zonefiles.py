"""A zone's files and their publication: a staged copy is published whole, with its
digest record, or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tldsec.errors import ConfigError
from tldsec.filedigest import digest_file, load_record
from tldsec.zonefiles import SIDE_SUFFIXES, ZoneFiles, stage


def test_the_side_files_are_named_after_the_zone(tmp_path: Path) -> None:
    files = ZoneFiles(tmp_path / "7.zone")
    assert [p.name for p in files.sides()] == [f"7.zone{s}" for s in SIDE_SUFFIXES]
    assert {files.index.name, files.unsigned.name, files.patch.name, files.digest.name} == {
        "7.zone.index",
        "7.zone.unsigned",
        "7.zone.patch",
        "7.zone.sha256",
    }
    assert files.verify_state == tmp_path / "verify-state.json"


def test_published_is_the_staged_copy_with_its_digest(tmp_path: Path) -> None:
    candidate, target = tmp_path / "candidate", tmp_path / "published"
    candidate.write_bytes(b"new zone\n" * 1000)
    target.write_bytes(b"old zone\n")
    staged = stage(candidate, target)
    assert staged.path.parent == tmp_path and staged.path != target
    assert target.read_bytes() == b"old zone\n"  # nothing published before the checks
    candidate.write_bytes(b"changed after staging\n")  # the copy is what gets published
    staged.publish()
    staged.discard()  # after publishing: nothing to remove
    assert target.read_bytes() == b"new zone\n" * 1000
    assert load_record(target) == digest_file(target) == staged.digest
    assert os.stat(target).st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "candidate",
        "published",
        "published.sha256",
    ]


def test_a_discarded_copy_leaves_the_published_zone_alone(tmp_path: Path) -> None:
    candidate, target = tmp_path / "candidate", tmp_path / "published"
    candidate.write_bytes(b"refused zone\n")
    target.write_bytes(b"last good zone\n")
    stage(candidate, target).discard()
    assert target.read_bytes() == b"last good zone\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["candidate", "published"]


def test_staging_refuses_the_published_file_and_a_missing_candidate(tmp_path: Path) -> None:
    target = tmp_path / "published"
    target.write_bytes(b"zone\n")
    with pytest.raises(ConfigError, match="is the published file itself"):
        stage(target, target)
    with pytest.raises(ConfigError, match="does not exist"):
        stage(tmp_path / "missing", target)
    with pytest.raises(ConfigError, match="is not a directory"):
        stage(target, tmp_path / "nowhere" / "published")
