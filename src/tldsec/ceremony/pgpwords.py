"""Bytes read aloud as the PGP word list, for read-back in a ceremony (DPS 5.1.2).

A byte at an even position is a two-syllable word, at an odd position a three-syllable
one (Juola and Zimmermann's list of 1995, as the PGPfone manual and the root zone KSK
ceremony's tools print it): a dropped, doubled or swapped word is heard at once. The
list is data in the package (``data/pgp-words.txt``), checked when it is read.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from tldsec.errors import CeremonyRefused


@cache
def word_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The even and the odd list, 256 words each."""
    text = resources.files("tldsec.ceremony").joinpath("data/pgp-words.txt").read_text("utf-8")
    even: list[str] = []
    odd: list[str] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        byte, e, o = line.split()
        if int(byte, 16) != len(even):
            raise ValueError(f"pgp-words.txt: byte {byte} out of order")
        even.append(e)
        odd.append(o)
    if len(even) != 256 or len({w.lower() for w in even + odd}) != 512:
        raise ValueError("pgp-words.txt: not 2 x 256 distinct words")
    return tuple(even), tuple(odd)


def to_words(data: bytes) -> str:
    """``data`` as PGP words, alternating the even and the odd list."""
    even, odd = word_lists()
    return " ".join((odd if i % 2 else even)[b] for i, b in enumerate(data))


def hex_words(hexdigits: str) -> str:
    """A hex string (a digest, a check value) as PGP words."""
    return to_words(bytes.fromhex(hexdigits))


def from_words(text: str) -> bytes:
    """The bytes read back; ``CeremonyRefused`` naming the first word that does not fit."""
    even, odd = word_lists()
    index = [{w.lower(): n for n, w in enumerate(lst)} for lst in (even, odd)]
    out = bytearray()
    for i, word in enumerate(text.split()):
        n = index[i % 2].get(word.lower())
        if n is None:
            other = index[1 - i % 2].get(word.lower())
            hint = " (a word of the other list: one was dropped or doubled)" if other else ""
            raise CeremonyRefused(f"word {i + 1} {word!r} is not a PGP word here{hint}")
        out.append(n)
    return bytes(out)
