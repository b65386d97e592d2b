"""A region's summary merges in file order: the cut's order, the digests, counts and seconds."""

from __future__ import annotations

from tldsec.verify.part import PartResult, Summary
from tldsec.verify.report import Finding


def _region(first: bytes, last: bytes, **digests: bytes) -> Summary:
    s = Summary(first_key=first, last_key=last)
    s.digests = {k.encode(): v for k, v in digests.items()}
    s.digested = len(s.digests)
    s.counts = {"records": 10}
    s.seconds = {"signatures": 0.5}
    return s


def _merged(*regions: Summary) -> Summary:
    out = Summary()
    for r in regions:
        out.merge(r)
    return out


def test_regions_in_canonical_order_stay_ordered_and_sum_up() -> None:
    s = _merged(_region(b"", b"b", a=b"1"), _region(b"c", b"f", c=b"2"), _region(b"g", b"z"))
    assert s.ordered
    assert (s.first_key, s.last_key) == (b"", b"z")
    assert s.digests == {b"a": b"1", b"c": b"2"}
    assert s.counts == {"records": 30}
    assert s.seconds == {"signatures": 1.5}


def test_a_subtree_in_two_regions_is_out_of_order() -> None:
    # "f" ends the first region and starts the second: its names were cut apart.
    assert not _merged(_region(b"", b"f"), _region(b"f", b"k")).ordered
    assert not _merged(_region(b"", b"m"), _region(b"c", b"k")).ordered
    # Once out of order, always out of order.
    assert not _merged(_region(b"", b"m"), _region(b"c", b"k"), _region(b"x", b"y")).ordered


def test_a_region_without_owners_below_the_apex_is_skipped_by_the_order() -> None:
    assert _merged(_region(b"", b"c"), _region(b"", b""), _region(b"d", b"e")).ordered


def test_an_owner_digested_in_two_regions_counts_twice() -> None:
    s = _merged(_region(b"", b"a", a=b"1"), _region(b"b", b"c", a=b"1"))
    assert s.digested == 2 and len(s.digests) == 1


def test_part_results_merge_findings_in_order_and_splittability() -> None:
    a, b = PartResult(0), PartResult(1, splittable=False)
    a.signatures.add(Finding("a.example.", "NS", "one"))
    b.signatures.add(Finding("b.example.", "NS", "two"))
    merged = PartResult(-1)
    merged.merge(a)
    merged.merge(b)
    assert [f.reason for f in merged.signatures.kept] == ["one", "two"]
    assert merged.signatures.failures == 2
    assert not merged.splittable
