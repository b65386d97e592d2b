"""Replacing a file atomically: the old file or the whole new one, never a part."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tldsec.atomicfile import replacing


def test_the_new_content_replaces_the_file_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "zone"
    target.write_text("old\n")
    with replacing(target, "w", encoding="utf-8") as out:
        out.write("new\n")
        assert target.read_text() == "old\n"  # readers still see the old file
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["zone"]


def test_a_failure_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "zone"
    target.write_bytes(b"old\n")
    with pytest.raises(RuntimeError), replacing(target) as out:
        out.write(b"half of the new")
        raise RuntimeError("the disk is full")
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["zone"]


def test_permissions_are_set_before_the_rename(tmp_path: Path) -> None:
    target = tmp_path / "zone"
    with replacing(target, permissions=0o644, fsync=False) as out:
        out.write(b"x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
