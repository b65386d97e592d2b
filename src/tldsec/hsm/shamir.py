"""Shamir's secret sharing over GF(2^8): a secret split so that any ``threshold`` of the
shares recover it and fewer tell nothing about it.

DPS 5.2.2 asks for three trusted people to act together on sensitive key operations, and
5.2.4 / 5.2.7 for a Storage Master Key that travels to each HSM on portable media. The
SMK is split here into shares, one per holder (their smart card or medium); installing it
into an HSM needs ``threshold`` of them. Each byte of the secret is the constant term of
its own random polynomial of degree ``threshold - 1``; share ``x`` holds the polynomials'
values at ``x`` (Shamir, "How to share a secret", CACM 22(11), 1979). The field is
GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_EXP = [0] * 510
_LOG = [0] * 256


def _tables() -> None:
    x = 1
    for power in range(255):
        _EXP[power] = _EXP[power + 255] = x
        _LOG[x] = power
        x ^= (x << 1) ^ (0x11B if x & 0x80 else 0)  # x * 3 (the generator), reduced
        x &= 0xFF


_tables()


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if a == 0:
        return 0
    return _EXP[_LOG[a] + 255 - _LOG[b]]


@dataclass(frozen=True, slots=True)
class Share:
    """One holder's part: its x (1-255), the threshold, and one byte per secret byte."""

    index: int
    threshold: int
    value: bytes

    def __post_init__(self) -> None:
        if not 1 <= self.index <= 255:
            raise ValueError(f"share index {self.index} is outside 1..255")
        if not 2 <= self.threshold <= 255:
            raise ValueError(f"share threshold {self.threshold} is outside 2..255")


def split(
    secret: bytes, shares: int, threshold: int, random: Callable[[int], bytes] = os.urandom
) -> list[Share]:
    """``shares`` shares of ``secret``, any ``threshold`` of which recover it."""
    if not secret:
        raise ValueError("there is no secret to split")
    if not 2 <= threshold <= shares <= 255:
        raise ValueError(f"need 2 <= threshold <= shares <= 255, not {threshold} of {shares}")
    # coefficients[i][j]: the j-th coefficient (j >= 1) of byte i's polynomial
    coefficients = [random(threshold - 1) for _ in secret]
    result = []
    for x in range(1, shares + 1):
        values = bytearray()
        for constant, higher in zip(secret, coefficients, strict=True):
            y, power = constant, 1
            for c in higher:
                power = _mul(power, x)
                y ^= _mul(c, power)
            values.append(y)
        result.append(Share(x, threshold, bytes(values)))
    return result


def combine(shares: Sequence[Share]) -> bytes:
    """The secret, from at least ``threshold`` distinct shares of the same split.

    With fewer shares the polynomial is underdetermined: refused, never guessed. Shares
    of another split (another length or threshold) are refused too; shares of another
    secret with the same shape give a wrong secret, which the caller's check value
    (``hsm/backup.py``) catches.
    """
    if not shares:
        raise ValueError("no shares given")
    threshold = shares[0].threshold
    length = len(shares[0].value)
    if any(s.threshold != threshold or len(s.value) != length for s in shares):
        raise ValueError("the shares come from different splits (threshold or length differ)")
    distinct = {s.index: s for s in shares}
    if len(distinct) < len(shares):
        raise ValueError("the same share was given twice")
    if len(distinct) < threshold:
        raise ValueError(f"{len(distinct)} shares given; this secret needs {threshold}")
    chosen = list(distinct.values())[:threshold]
    xs = [s.index for s in chosen]
    # Lagrange interpolation at 0: secret = sum y_i * prod_{j != i} x_j / (x_j - x_i);
    # in GF(2^8) subtraction is XOR.
    weights = []
    for i, xi in enumerate(xs):
        weight = 1
        for j, xj in enumerate(xs):
            if i != j:
                weight = _mul(weight, _div(xj, xj ^ xi))
        weights.append(weight)
    secret = bytearray(length)
    for share, weight in zip(chosen, weights, strict=True):
        for k, y in enumerate(share.value):
            secret[k] ^= _mul(y, weight)
    return bytes(secret)
