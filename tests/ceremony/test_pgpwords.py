"""The PGP word list in the package: 2 x 256 distinct words, and the known answer of its
published example (a PGP key fingerprint read aloud)."""

from __future__ import annotations

import pytest

from tldsec.ceremony.pgpwords import from_words, hex_words, to_words, word_lists
from tldsec.errors import CeremonyRefused

# The example of the PGP word list's description: a fingerprint and its words.
FINGERPRINT = "E58294F2E9A227486E8B061B31CC528FD7FA3F19"
WORDS = (
    "topmost Istanbul Pluto vagabond treadmill Pacific brackish dictator goldfish Medusa "
    "afflict bravado chatter revolver Dupont midsummer stopwatch whimsical cowbell bottomless"
)


def test_the_published_example_reads_back() -> None:
    assert hex_words(FINGERPRINT) == WORDS
    assert from_words(WORDS.lower()).hex().upper() == FINGERPRINT


def test_the_lists_are_whole_and_distinct() -> None:
    even, odd = word_lists()
    assert (even[0], odd[0], even[255], odd[255]) == ("aardvark", "adroitness", "Zulu", "Yucatan")
    assert to_words(bytes(range(256))).split()[::2] == list(even[::2])


def test_a_dropped_word_is_heard() -> None:
    with pytest.raises(CeremonyRefused, match=r"word 2 'Pluto' .* the other list"):
        from_words("topmost Pluto vagabond")
    with pytest.raises(CeremonyRefused, match="word 1 'lunch' is not a PGP word"):
        from_words("lunch")
