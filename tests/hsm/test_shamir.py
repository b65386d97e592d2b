"""Shamir's secret sharing (``hsm/shamir.py``): any threshold of the shares recover the
secret, fewer are refused or give something else, and bad sets of shares are named."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tldsec.hsm.shamir import Share, _div, _mul, combine, split


def test_the_field_is_gf256_with_the_aes_polynomial() -> None:
    assert _mul(0x57, 0x83) == 0xC1  # FIPS-197 4.2's example
    assert all(_mul(a, _div(1, a)) == 1 for a in range(1, 256))


@given(
    secret=st.binary(min_size=1, max_size=40),
    shape=st.integers(2, 6).flatmap(lambda m: st.tuples(st.just(m), st.integers(m, 7))),
    data=st.data(),
)
def test_any_threshold_of_the_shares_recover_the_secret(
    secret: bytes, shape: tuple[int, int], data: st.DataObject
) -> None:
    threshold, count = shape
    shares = split(secret, count, threshold)
    chosen = data.draw(
        st.permutations(shares).map(lambda p: p[: data.draw(st.integers(threshold, count))])
    )
    assert combine(chosen) == secret


def test_every_three_of_five_recover_and_two_are_refused() -> None:
    secret = bytes(range(32))
    shares = split(secret, 5, 3)
    for trio in itertools.combinations(shares, 3):
        assert combine(trio) == secret
    with pytest.raises(ValueError, match="2 shares given; this secret needs 3"):
        combine(shares[:2])


def test_fewer_shares_dressed_as_enough_do_not_give_the_secret() -> None:
    secret = b"\x42" * 32
    a, b, _c = split(secret, 3, 3)
    forged = Share(3, 3, bytes(32))  # a guessed third share
    assert combine([a, b, forged]) != secret


def test_bad_share_sets_are_named() -> None:
    one = split(b"secret-one", 3, 2)
    other = split(b"another secret", 3, 2)
    with pytest.raises(ValueError, match="different splits"):
        combine([one[0], other[1]])
    with pytest.raises(ValueError, match="twice"):
        combine([one[0], one[0]])
    with pytest.raises(ValueError, match="no shares"):
        combine([])
    with pytest.raises(ValueError, match="threshold <= shares"):
        split(b"x", 2, 3)
    with pytest.raises(ValueError, match="no secret"):
        split(b"", 3, 2)
    with pytest.raises(ValueError, match=r"outside 1\.\.255"):
        Share(0, 2, b"x")
