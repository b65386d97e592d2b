"""The second implementation's one sampling rule (decision 70): every region, the whole
zone included, re-signs the apex RRsets and its share of ``[verify] second_sample``."""

from __future__ import annotations

import dns.name

from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset
from tldsec.verify.second import SecondSetup, choose

from .conftest import Keys, wire

APEX = wire("example.")


def _signed(n: int) -> list[RRset]:
    """The apex's SOA and NS and ``n`` signed delegations' DS RRsets, in file order."""
    apex = [RRset(APEX, t, 3600, [b""], (b"sig",)) for t in (RRType.SOA, RRType.NS)]
    return apex + [RRset(wire(f"d{i:03}"), RRType.DS, 3600, [b""], (b"sig",)) for i in range(n)]


def _setup(keys: Keys, sample: int | None, seed: int = 2024010100) -> SecondSetup:
    return SecondSetup({}, dns.name.from_text("example."), sample, seed, 1000, keys.store, None, 0)


def test_the_whole_zone_is_one_region_with_all_of_the_sample(keys: Keys) -> None:
    signed = _signed(100)
    chosen = choose(_setup(keys, 10), signed, 0, 1000)
    assert chosen[:2] == signed[:2]  # the apex RRsets always
    assert len(chosen) == 12 and len({r.owner for r in chosen[2:]}) == 10
    assert all(r.owner != APEX for r in chosen[2:])
    # Seeded by the serial: the same run again re-signs the same RRsets, another serial not.
    assert choose(_setup(keys, 10), signed, 0, 1000) == chosen
    assert choose(_setup(keys, 10, seed=2024010101), signed, 0, 1000) != chosen


def test_a_part_draws_its_share_of_the_sample_with_its_own_index(keys: Keys) -> None:
    signed = _signed(100)
    setup = _setup(keys, 40)
    first = choose(setup, signed, 0, 250)  # a quarter of the file's bytes
    assert len(first) == 2 + 10
    third = choose(setup, signed[2:], 2, 250)  # no apex in a later part
    assert len(third) == 10 and third != first[2:]
    assert len(choose(setup, signed[2:], 3, 251)) == 11  # rounded up: ceil(10.04)


def test_every_rrset_in_file_order_when_the_share_covers_them_or_no_sample_is_set(
    keys: Keys,
) -> None:
    signed = _signed(5)
    assert choose(_setup(keys, 10), signed, 0, 1000) == signed
    assert choose(_setup(keys, None), signed, 4, 1) == signed
