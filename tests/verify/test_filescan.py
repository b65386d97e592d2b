"""The fast whole-file scans and the regions of the incremental mode, on small texts."""

from __future__ import annotations

from pathlib import Path

from tldsec.dnscore.signedfile import syntax_problem
from tldsec.dnscore.zonepatch import Edit, ZonePatch
from tldsec.verify.filescan import ranges, scan_piece
from tldsec.verify.incremental import line_start_problems, size_problems
from tldsec.verify.regions import order_problem, regions
from tldsec.verify.summary import Nsec3Scan, Summary

ZONE = b"""; header
example.\t86400\tIN\tSOA\ta.nic.example. h.nic.example. 1 1800 900 1209600 3600
example.\t86400\tIN\tRRSIG\tSOA 8 1 86400 20300101000000 20200101000000 1 example. AAAA
aaa.example.\t86400\tIN\tNS\tns.hoster.net.
ns1.bbb.example.\t86400\tIN\tA\t192.0.2.1
bbb.example.\t86400\tIN\tNS\tns1.bbb.example.
ns1.bbb.example.\t86400\tIN\tA\t192.0.2.1
ccc.example.\t86400\tIN\tNS\tns.hoster.net.
ccc.example.\t86400\tIN\tRRSIG\tNS 8 2 86400 20291231000000 20200101000000 1 example. AAAA
"""


def test_order_problem_names_what_cannot_be_cut(tmp_path: Path) -> None:
    path = tmp_path / "z"
    good = ZONE.replace(b"ns1.bbb.example.\t86400\tIN\tA\t192.0.2.1\nbbb", b"bbb", 1)
    path.write_bytes(good)
    assert order_problem(path, "example.") is None
    path.write_bytes(good.replace(b"aaa.example.", b"ddd.example."))
    assert "out of canonical order" in (order_problem(path, "example.") or "")
    path.write_bytes(good + b"eee.example.\t86400\tIN\tTXT\t(\n")
    assert "several lines" in (order_problem(path, "example.") or "")


def test_the_scan_finds_the_earliest_expiration(tmp_path: Path) -> None:
    path = tmp_path / "z"
    path.write_bytes(ZONE)
    found = scan_piece(path, "example.").expiry
    assert found.rrsig_lines == 2 and found.rrsig_unread == 0
    assert found.earliest_line.startswith(b"ccc.example.\t")


def _piece(owners: list[bytes], nexts: list[bytes], lines: int | None = None) -> Summary:
    n = len(owners) if lines is None else lines
    return Summary(scanned=Nsec3Scan(b"".join(owners), b"".join(nexts), lines=n))


def chain_problems(pieces: list[Summary]) -> list[str]:
    """The chain's problems once the ranges' summaries are merged in file order."""
    return list(Summary.merged(pieces).scanned.problems())


def test_the_chain_must_be_sorted_and_closed_across_pieces() -> None:
    a, b, c = (x * 32 for x in (b"1", b"5", b"9"))
    assert chain_problems([_piece([a, b], [b, c]), _piece([c], [a])]) == []
    broken = chain_problems([_piece([a, b], [b, a]), _piece([c], [a])])
    assert any("next in the chain" in p for p in broken)
    swapped = chain_problems([_piece([c], [a]), _piece([a, b], [b, c])])
    assert any("out of order" in p for p in swapped)
    unread = chain_problems([_piece([a, b, c], [b, c, a], lines=4)])
    assert any("not in the form" in p for p in unread)


def test_the_scan_in_ranges_equals_the_scan_whole(tmp_path: Path) -> None:
    path = tmp_path / "z"
    path.write_bytes(ZONE * 3)
    whole = scan_piece(path, "example.").expiry
    pieces = [scan_piece(path, "example.", s, e) for s, e in ranges(path, 3)]
    parts = Summary.merged(pieces).expiry
    assert (parts.earliest_expiry, parts.rrsig_lines) == (whole.earliest_expiry, 6)


def patch_problems(tmp_path: Path, patch: ZonePatch, old: bytes, new: bytes) -> list[str]:
    """Every way ``patch`` does not fit the two files, as the incremental plan finds them:
    sizes and line starts in the parent, the unchanged bytes in the whole-file pass."""
    (tmp_path / "old").write_bytes(old)
    (tmp_path / "new").write_bytes(new)
    same = list(enumerate(patch.unchanged()))
    differs = scan_piece(tmp_path / "new", "example.", previous=tmp_path / "old", same=same)
    return [
        *size_problems(patch, old, new),
        *line_start_problems(patch, old, new),
        *differs.differs.values(),
    ]


def test_an_edit_is_widened_to_its_whole_subtree_and_the_apex_is_a_region(
    tmp_path: Path,
) -> None:
    old = ZONE
    new = ZONE.replace(b"192.0.2.1\nccc", b"192.0.2.9\nccc")  # the second ns1.bbb line
    at = old.index(b"ns1.bbb.example.\t86400\tIN\tA\t192.0.2.1\nccc")
    end = at + len(b"ns1.bbb.example.\t86400\tIN\tA\t192.0.2.1\n")
    patch = ZonePatch("old", len(old), len(new), (Edit(at, end, at, end),))
    assert patch_problems(tmp_path, patch, old, new) == []
    found = regions(patch, old, new, "example.")
    assert [(r.new_start, r.new_end) for r in found] == [
        (0, old.index(b"aaa.example.")),
        (old.index(b"ns1.bbb.example."), old.index(b"ccc.example.")),
    ]


def test_a_patch_that_cuts_a_line_or_hides_a_change_is_refused(tmp_path: Path) -> None:
    old = ZONE
    new = ZONE.replace(
        b"aaa.example.\t86400\tIN\tNS\tns.hoster", b"aaa.example.\t86400\tIN\tNS\tns.hostex"
    )
    patch = ZonePatch("old", len(old), len(new), (Edit(5, 6, 5, 6),))
    problems = patch_problems(tmp_path, patch, old, new)
    assert any("not at the start of a line" in p for p in problems)
    assert any("differs from byte" in p for p in problems)


def test_lines_the_cut_cannot_handle_are_named() -> None:
    assert syntax_problem(b"\naaa.example.\t86400\tIN\tNS\tns.\n") is None
    assert "not followed by a tab" in (syntax_problem(b"\naaa.example. 86400 IN NS ns.\n") or "")
    assert "comment" in (syntax_problem(b"\naaa.example.\t1\tIN\tNS\tns.\n; hi\n") or "")
