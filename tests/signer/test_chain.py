"""The NSEC3 chain is the same whether the owners were hashed in a child or here."""

from __future__ import annotations

import pytest

from tests.signer.test_output import BIG
from tldsec.dnscore.zonefile import read_zone_text
from tldsec.signer.chain import nsec3_chain, start_hashing
from tldsec.signer.structure import analyse


def chain_of(salt: bytes, iterations: int, child: tuple[bytes, int] | None) -> list[object]:
    zone = read_zone_text(BIG, "example.")
    hashes = start_hashing(zone, *child, min_owners=0) if child is not None else None
    try:
        types = analyse(zone).nsec3_types
        chain = nsec3_chain(zone, types, salt, iterations, 3600, hashes)
        if child == (salt, iterations):
            assert hashes is not None and hashes.wait() is not None  # the child's were used
    finally:
        if hashes is not None:
            hashes.close()
    return [(r.owner, r.rtype, r.ttl, r.rdatas) for r in chain]


@pytest.mark.parametrize(("salt", "iterations"), [(b"", 0), (bytes.fromhex("aabbccdd"), 3)])
def test_child_hashes_give_the_same_chain(salt: bytes, iterations: int) -> None:
    here = chain_of(salt, iterations, None)
    assert len(here) > 60  # every delegation, the apex names and the empty non-terminals
    assert chain_of(salt, iterations, (salt, iterations)) == here


def test_hashes_for_other_parameters_are_not_used() -> None:
    assert chain_of(b"", 1, (b"\x01", 0)) == chain_of(b"", 1, None)


def test_a_zone_changed_after_hashing_is_hashed_again() -> None:
    zone = read_zone_text(BIG, "example.")
    reference = read_zone_text(BIG + "late NS ns.hoster.net.\n", "example.")
    hashes = start_hashing(zone, b"", 0, min_owners=0)
    assert hashes is not None
    try:
        late = read_zone_text("late.example. 86400 IN NS ns.hoster.net.\n", "example.")
        zone.add_all(late.rrsets())  # a new owner: the child's list no longer matches
        chain = nsec3_chain(zone, analyse(zone).nsec3_types, b"", 0, 3600, hashes)
    finally:
        hashes.close()
    expected = nsec3_chain(reference, analyse(reference).nsec3_types, b"", 0, 3600)
    assert [(r.owner, r.rdatas) for r in chain] == [(r.owner, r.rdatas) for r in expected]
