"""The entry format is the contract with auditors: canonical bytes, hashes, checkpoints."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tldsec.audit.entry import (
    GENESIS_HASH,
    Checkpoint,
    Entry,
    canonical_json,
    checkpoint_message,
    format_time,
    make_entry,
    normalize_details,
    parse_time,
)

# Known answer, cross-checked by hand in a shell:
#   (head -c 32 /dev/zero; printf '%s' "$BODY") | sha256sum
BODY = (
    b'{"actor":"component:signer","details":{"bits":2048,"key_id":"abc"},'
    b'"event":"key.generated","level":"notice","seq":1,'
    b'"time":"2025-01-01T00:00:00.000000Z","v":1}'
)
HASH = "4a952d471ba159e290a4905ddd317ce9430fb29f7cbee925e4bdc73c9bfadd8f"


def first_entry() -> Entry:
    return make_entry(
        seq=1,
        time=datetime(2025, 1, 1, tzinfo=UTC),
        actor="component:signer",
        event="key.generated",
        level="notice",
        details={"key_id": "abc", "bits": 2048},
        prev_hash=GENESIS_HASH,
    )


def test_the_first_entry_matches_the_known_answer() -> None:
    entry = first_entry()
    assert entry.body() == BODY
    assert entry.hash == HASH
    assert entry.computed_hash() == HASH


def test_the_next_entry_commits_to_the_previous_hash() -> None:
    second = make_entry(
        seq=2,
        time=datetime(2025, 1, 1, tzinfo=UTC),
        actor="component:signer",
        event="key.generated",
        level="notice",
        details={"key_id": "abc", "bits": 2048},
        prev_hash=HASH,
    )
    assert second.prev_hash == HASH
    assert second.hash != HASH


def test_the_hash_covers_the_sequence_number() -> None:
    entry = first_entry()
    assert entry.computed_hash(seq=2) != entry.hash


def test_canonical_json_sorts_keys_and_keeps_unicode() -> None:
    assert (
        canonical_json({"b": 1, "a": ["é", None, True]}) == '{"a":["é",null,true],"b":1}'.encode()
    )


def test_times_are_utc_with_microseconds() -> None:
    tokyo = timezone(timedelta(hours=9))
    when = datetime(2025, 1, 1, 9, 0, 0, 5, tzinfo=tokyo)
    assert format_time(when) == "2025-01-01T00:00:00.000005Z"
    assert parse_time(format_time(when)) == when
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2025, 1, 1))


class Colour(enum.Enum):
    RED = "red"


def test_details_are_normalised_to_plain_json() -> None:
    details = normalize_details(
        {
            "when": datetime(2025, 1, 1, tzinfo=UTC),
            "blob": b"\x01\xff",
            "path": Path("/var/lib/x"),
            "colour": Colour.RED,
            "tags": ("a", "b"),
            "set": {3, 1, 2},
            "nested": {"ok": [1, {"deep": None}]},
        }
    )
    assert details == {
        "when": "2025-01-01T00:00:00.000000Z",
        "blob": "01ff",
        "path": "/var/lib/x",
        "colour": "red",
        "tags": ["a", "b"],
        "set": [1, 2, 3],
        "nested": {"ok": [1, {"deep": None}]},
    }


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"ratio": 0.5}, "detail ratio: float"),
        ({"big": 2**60}, "beyond 2\\*\\*53"),
        ({"x": object()}, "detail x: object"),
        ({"nested": {1: "a"}}, "detail key nested.1"),
        ({"ünï": 1}, "ASCII"),
    ],
)
def test_details_outside_the_canonical_set_are_refused(
    details: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_details(details)


def test_entry_records_round_trip() -> None:
    entry = first_entry()
    record = entry.to_record()
    assert record["record"] == "entry"
    assert Entry.from_record(record) == entry


def test_checkpoint_and_seal_messages_are_domain_separated() -> None:
    when = datetime(2025, 1, 1, tzinfo=UTC)
    plain = checkpoint_message(5, HASH, when)
    seal = checkpoint_message(5, HASH, when, start=(0, GENESIS_HASH))
    assert plain == (
        b'{"head_hash":"' + HASH.encode() + b'","kind":"tldsec-audit-checkpoint","seq":5,'
        b'"time":"2025-01-01T00:00:00.000000Z","v":1}'
    )
    assert b'"kind":"tldsec-audit-archive-seal"' in seal
    assert b'"first_seq":1' in seal


def test_checkpoint_records_round_trip() -> None:
    when = datetime(2025, 1, 1, tzinfo=UTC)
    for start in (None, (10, HASH)):
        cp = Checkpoint(11, HASH, when, "0123456789abcdef", b"\x01" * 64, start)
        assert Checkpoint.from_record(cp.to_record()) == cp
