"""Every operation a ceremony can authorise has its script, with the command it runs and
what is read back; a ceremony's values are read back as PGP words."""

from __future__ import annotations

from tldsec.ceremony.pgpwords import hex_words
from tldsec.ceremony.policy import DEFAULT_QUORUMS, OPERATIONS
from tldsec.ceremony.script import RUNS, render, script


def test_every_operation_has_its_script() -> None:
    assert set(RUNS) == set(OPERATIONS)
    for operation, cls in OPERATIONS.items():
        text = render(script(operation, DEFAULT_QUORUMS[cls]))
        assert RUNS[operation][0] in text and "tldsec ceremony sign ID" in text


def test_values_are_read_back_as_words() -> None:
    digest = "ab" * 32
    steps = script("backup.keys", DEFAULT_QUORUMS[OPERATIONS["backup.keys"]], ceremony_id="c-1",
                   statement_sha256=digest, outcome={"archive_sha256": "cd" * 32,
                                                     "keys": ["k1", "k2"]})  # fmt: skip
    text = render(steps)
    assert f"= {hex_words(digest)}" in text and f"= {hex_words('cd' * 32)}" in text
    assert "read back: keys: k1" in text and "--ceremony c-1" in text
    assert "(SA or SO) + WI" in text
