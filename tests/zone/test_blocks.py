"""Owner blocks of a built zone file, found by bisection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tldsec.errors import ZoneSyntaxError
from tldsec.zone.blocks import ZoneFileBlocks
from tldsec.zone.builder import canonical_key

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,4}[a-z0-9])?", fullmatch=True)
_owner = st.lists(_label, min_size=1, max_size=3).map(lambda ls: ".".join([*ls, "example"]) + ".")


def zone_bytes(owners: list[str]) -> bytes:
    lines = ["; unsigned zone example. serial 1 by tldsec zone build\n"]
    lines.append("example. 86400 IN SOA a. b. 1 2 3 4 5\n")
    for owner in sorted(set(owners), key=canonical_key):
        lines.append(f"{owner} 86400 IN NS ns1.hoster.net.\n")
        if len(owner) % 2:
            lines.append(f"{owner} 86400 IN NS ns2.hoster.net.\n")
    lines.append("; delegations=0 with_ds=0 glue_hosts=0 orphan_hosts=0\n")
    return "".join(lines).encode()


@given(st.lists(_owner, max_size=40), st.lists(_owner, min_size=1, max_size=10))
def test_every_owner_is_found_and_absent_ones_land_in_order(
    present: list[str], wanted: list[str]
) -> None:
    data = zone_bytes(present)
    blocks = ZoneFileBlocks(data)
    for owner in sorted(set(wanted) | set(present[:5]), key=canonical_key):
        block = blocks.find(owner)
        lines = blocks.lines(block)
        expected = [x for x in data.decode().splitlines() if x.startswith(owner + " ")]
        assert lines == expected
        # Everything before the block sorts before the owner, everything after it after.
        before = data[blocks.start : block.start].decode().splitlines()
        after = data[block.end : blocks.end].decode().splitlines()
        assert all(canonical_key(x.split()[0]) < canonical_key(owner) for x in before)
        assert all(canonical_key(x.split()[0]) > canonical_key(owner) for x in after)


def test_a_file_without_header_or_trailer_is_refused() -> None:
    with pytest.raises(ZoneSyntaxError, match="not a zone file written by tldsec"):
        ZoneFileBlocks(b"example. 86400 IN NS a.example.\n")
    with pytest.raises(ZoneSyntaxError, match="no trailer"):
        ZoneFileBlocks(b"; head\nexample. 86400 IN NS a.example.\n")
