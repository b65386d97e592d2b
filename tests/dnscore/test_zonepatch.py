"""ZonePatch: byte-range edits from one signed zone file to the next."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tldsec.dnscore.zonepatch import Edit, ZonePatch, ZonePatchError, load_for, patch_path


def apply(old: bytes, new: bytes, patch: ZonePatch) -> bytes:
    """Rebuild ``new`` from ``old`` and the new file's edited ranges only."""
    out = bytearray()
    pos = 0
    for e in patch.edits:
        out += old[pos : e.old_start] + new[e.new_start : e.new_end]
        pos = e.old_end
    return bytes(out + old[pos:])


@given(st.lists(st.tuples(st.binary(max_size=5), st.binary(max_size=5)), max_size=8))
def test_unchanged_ranges_and_edits_rebuild_the_new_file(pairs: list[tuple[bytes, bytes]]) -> None:
    old = new = b""
    edits = []
    for i, (before, after) in enumerate(pairs):
        same = b"same%d|" % i
        old += same
        new += same
        edits.append(Edit(len(old), len(old) + len(before), len(new), len(new) + len(after)))
        old += before
        new += after
    old += b"tail"
    new += b"tail"
    patch = ZonePatch("prev", len(old), len(new), tuple(edits))
    assert apply(old, new, patch) == new
    for run in patch.unchanged():
        assert (
            old[run.old_start : run.old_start + run.length]
            == (new[run.new_start : run.new_start + run.length])
        )


def test_overlapping_edits_are_refused() -> None:
    with pytest.raises(ZonePatchError, match="overlaps"):
        ZonePatch("p", 10, 10, (Edit(0, 5, 0, 5), Edit(4, 6, 4, 6)))


def test_edits_that_do_not_keep_unchanged_lengths_are_refused() -> None:
    with pytest.raises(ZonePatchError, match="differ in length"):
        ZonePatch("p", 10, 12, (Edit(2, 3, 1, 4),))
    with pytest.raises(ZonePatchError, match="after the last edit"):
        ZonePatch("p", 10, 12, (Edit(2, 3, 2, 3),))


def test_save_load_and_binding_to_the_files(tmp_path: Path) -> None:
    prev, new = tmp_path / "1.zone", tmp_path / "2.zone"
    prev.write_bytes(b"a\nb\nc\n")
    new.write_bytes(b"a\nBB\nc\n")
    patch = ZonePatch(prev.name, 6, 7, (Edit(2, 4, 2, 5),))
    patch.save(patch_path(new))
    assert load_for(new, prev) == patch
    new.write_bytes(b"a\nBBB\nc\n")  # the file changed after its patch was written
    assert load_for(new, prev) is None


def test_a_corrupt_patch_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "z.patch"
    path.write_text('{"format": "tldsec-zonepatch 1", "edits": [[1]]}')
    with pytest.raises(ZonePatchError, match="malformed"):
        ZonePatch.load(path)
