"""Nsec3Ring: predecessors and successors in the changed chain are those of the chain built
afresh (RFC 5155 7.1: the last hashed owner points back to the first)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tldsec.signer.nsec3ring import Nsec3Ring

HASHES = st.sets(st.binary(min_size=2, max_size=2), max_size=30)


@given(old=HASHES, gone=HASHES, new=HASHES)
def test_the_ring_agrees_with_the_chain_built_afresh(
    old: set[bytes], gone: set[bytes], new: set[bytes]
) -> None:
    removed = old & gone
    added = sorted(new - old)
    chain = sorted((old - removed) | set(added))
    ring = Nsec3Ring(sorted(old), removed, added)
    for i, h in enumerate(chain):
        assert ring.successor(h) == chain[(i + 1) % len(chain)]
        assert ring.predecessor(h) == chain[i - 1]
    for h in removed:
        if chain:
            before = [x for x in chain if x < h]
            assert ring.predecessor(h) == (before[-1] if before else chain[-1])
