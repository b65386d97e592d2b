"""The unsigned-input line diff: the set of lines removed and added, found without
splitting the unchanged stretches, and the refusal of files whose lines depend on context."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tldsec.signer.inputdiff import (
    NotLineOriented,
    context_problem,
    diff_inputs,
    differing_regions,
    record_lines,
)

LINES = st.lists(
    st.text("abcdefgh", min_size=1, max_size=6).map(lambda s: f"{s}.example. 300 IN A 192.0.2.1"),
    unique=True,
    max_size=60,
)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("$TTL 300\n" + "".join(line + "\n" for line in lines))
    return path


@given(old=LINES, new=LINES)
def test_the_diff_is_the_set_difference_of_the_lines(
    tmp_path_factory: pytest.TempPathFactory, old: list[str], new: list[str]
) -> None:
    tmp = tmp_path_factory.mktemp("diff")
    diff = diff_inputs(write(tmp / "old", old), write(tmp / "new", new))
    assert {x.decode() for x in diff.removed} == set(old) - set(new)
    assert {x.decode() for x in diff.added} == set(new) - set(old)


@given(
    base=st.lists(st.text("abc", min_size=1, max_size=4), unique=True, max_size=200),
    drop=st.sets(st.integers(0, 199)),
    extra=st.lists(st.text("xyz", min_size=1, max_size=4), unique=True, max_size=10),
)
def test_regions_cover_every_difference_and_only_equal_bytes_lie_outside(
    base: list[str], drop: set[int], extra: list[str]
) -> None:
    old = "".join(f"{x}\n" for x in base).encode()
    kept = [x for i, x in enumerate(base) if i not in drop]
    new = "".join(f"{x}\n" for x in kept[: len(kept) // 2] + extra + kept[len(kept) // 2 :])
    regions = differing_regions(old, new.encode())
    rebuilt, at = b"", 0
    for a0, a1, b0, b1 in regions:
        assert a0 >= at and old[a0 - 1 : a0] in (b"", b"\n")  # whole lines
        rebuilt += old[at:a0] + new.encode()[b0:b1]
        at = a1
    assert rebuilt + old[at:] == new.encode()


def test_lines_that_inherit_their_owner_are_refused(tmp_path: Path) -> None:
    old = write(tmp_path / "old", ["a.example. 300 IN A 192.0.2.1"])
    new = tmp_path / "new"
    new.write_text("$TTL 300\na.example. 300 IN A 192.0.2.1\n  300 IN AAAA 2001:db8::1\n")
    with pytest.raises(NotLineOriented, match="without its own owner"):
        diff_inputs(old, new)


def test_a_directive_after_the_first_record_is_refused(tmp_path: Path) -> None:
    old = write(tmp_path / "old", ["a.example. 300 IN A 192.0.2.1"])
    new = tmp_path / "new"
    new.write_text(
        "$TTL 300\na.example. 300 IN A 192.0.2.1\n$ORIGIN sub.example.\nb 300 IN A 192.0.2.2\n"
    )
    with pytest.raises(NotLineOriented, match="directive after the first record"):
        diff_inputs(old, new)


def test_records_without_a_ttl_need_a_ttl_directive(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.write_text("a.example. 300 IN A 192.0.2.1\n")
    new = tmp_path / "new"
    new.write_text("a.example. 300 IN A 192.0.2.1\nb.example. IN A 192.0.2.2\n")
    with pytest.raises(NotLineOriented, match="without a TTL"):
        diff_inputs(old, new)


def test_record_lines_leave_out_comments_blanks_and_directives() -> None:
    text = b"; head\n$ORIGIN example.\n\na 300 IN A 192.0.2.1\n; note\nb 300 IN A 192.0.2.2"
    assert record_lines(text) == 2


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (b"$TTL 60\na 60 IN A 192.0.2.1\n", None),
        (b"; builder\na. 60 IN A 192.0.2.1\n", None),
        (b"$TTL 60\na IN TXT ( x\n y )\n", "parentheses"),
        (b"a. 60 IN A 192.0.2.1\n$TTL 60\n", "directive after"),
        # Checked in each diff, where they matter (the regions and the lines after them):
        (b"$TTL 60\na IN A 192.0.2.1\n  IN AAAA 2001:db8::1\n", None),
        (b"a. IN A 192.0.2.1\n", None),
    ],
)
def test_whole_files_are_checked_once_when_signed_in_full(text: bytes, why: str | None) -> None:
    problem = context_problem(text)
    assert problem is None if why is None else why in (problem or "")


def test_a_changed_line_that_the_next_line_inherits_from_is_refused(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.write_text("$TTL 60\na.example. 60 IN A 192.0.2.1\n  60 IN AAAA 2001:db8::1\n")
    new = tmp_path / "new"
    new.write_text("$TTL 60\nb.example. 60 IN A 192.0.2.1\n  60 IN AAAA 2001:db8::1\n")
    with pytest.raises(NotLineOriented, match="without its own owner"):
        diff_inputs(old, new)


def test_a_line_added_twice_is_refused(tmp_path: Path) -> None:
    old = write(tmp_path / "old", ["a.example. 300 IN A 192.0.2.1"])
    new = write(
        tmp_path / "new", ["a.example. 300 IN A 192.0.2.1", "b.example. 300 IN A 192.0.2.2"]
    )
    new.write_text(new.read_text() + "b.example. 300 IN A 192.0.2.2\n")
    with pytest.raises(NotLineOriented, match="appears twice"):
        diff_inputs(old, new)
