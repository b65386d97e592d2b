"""verify_chain names every kind of tampering, and where it happened (issue: tampering tests)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.audit.builders import build_chain, keys_of, rechain, sign_checkpoint, with_seq
from tldsec.audit.chain import GENESIS, Anchor, FindingKind, VerifyReport, verify_chain
from tldsec.audit.entry import Entry, make_entry
from tldsec.audit.signing import Ed25519Signer

KEY = Ed25519Signer.generate()
KEYS = keys_of(KEY)


def verify(
    entries: list[Entry], checkpoint_seqs: tuple[int, ...] | None = None, **kwargs: object
) -> VerifyReport:
    """Verify with checkpoints signed over the *original* chain at the given seqs."""
    original = kwargs.pop("original", entries)
    assert isinstance(original, list)
    seqs = checkpoint_seqs if checkpoint_seqs is not None else (original[-1].seq,)
    by_seq = {e.seq: e for e in original}
    cps = [sign_checkpoint(KEY, by_seq[s]) for s in seqs]
    return verify_chain(entries, keys=KEYS, checkpoints=cps, **kwargs)  # type: ignore[arg-type]


def kinds(report: VerifyReport) -> list[tuple[FindingKind, int | None, int | None]]:
    return [(f.kind, f.first_seq, f.last_seq) for f in report.findings]


def test_an_intact_chain_verifies() -> None:
    chain = build_chain(200)
    report = verify(chain, (100, 200))
    assert report.ok, report.findings
    assert (report.entries, report.first_seq, report.last_seq) == (200, 1, 200)
    assert (report.checkpoints_valid, report.signed_upto, report.unsigned_tail) == (2, 200, None)


def test_entries_after_the_last_checkpoint_are_intact_but_unsigned() -> None:
    chain = build_chain(10)
    report = verify(chain, original=chain, checkpoint_seqs=(7,))
    assert report.ok
    assert report.unsigned_tail == (8, 10)


@pytest.mark.parametrize(
    "change",
    [
        {"actor": "person:mallory"},
        {"event": "key.destroyed"},
        {"level": "critical"},
        {"details": {"n": 5, "note": "nothing to see"}},
        {"time": build_chain(5)[4].time + timedelta(microseconds=1)},
        {"prev_hash": "ab" * 32},
    ],
    ids=["actor", "event", "level", "details", "time", "prev_hash"],
)
def test_changing_one_field_is_found_at_that_entry(change: dict[str, object]) -> None:
    chain = build_chain(12)
    tampered = list(chain)
    tampered[4] = dataclasses.replace(chain[4], **change)  # type: ignore[arg-type]
    report = verify(tampered, original=chain)
    assert kinds(report) == [(FindingKind.MODIFIED, 5, None)]
    assert str(report.findings[0]) == "modified at seq 5: content does not match its hash"


def test_rewriting_one_entry_with_a_recomputed_hash_is_found_at_that_entry() -> None:
    chain = build_chain(12)
    e = chain[6]
    forged = make_entry(
        seq=e.seq,
        time=e.time,
        actor="person:mallory",
        event=e.event,
        level=e.level,
        details=e.details,
        prev_hash=e.prev_hash,
    )
    tampered = [*chain[:6], forged, *chain[7:]]
    report = verify(tampered, original=chain)
    assert kinds(report) == [(FindingKind.MODIFIED, 7, None)]
    assert "rewritten with a recomputed hash" in report.findings[0].detail


def test_deleting_an_entry_is_found_as_a_gap() -> None:
    chain = build_chain(12)
    report = verify([*chain[:5], *chain[6:]], original=chain)
    assert kinds(report) == [(FindingKind.DELETED, 6, 6)]


def test_deleting_a_run_of_entries_is_one_range() -> None:
    chain = build_chain(30)
    report = verify([*chain[:9], *chain[20:]], original=chain)
    assert kinds(report) == [(FindingKind.DELETED, 10, 20)]
    assert str(report.findings[0]) == "deleted at seq 10-20: entries are missing"


def test_deleting_the_first_entries_is_found_against_the_genesis() -> None:
    chain = build_chain(10)
    report = verify(chain[3:], original=chain)
    assert kinds(report) == [(FindingKind.DELETED, 1, 3)]


def test_inserting_an_entry_with_a_duplicate_number_is_found() -> None:
    chain = build_chain(12)
    fake = make_entry(
        seq=6,
        time=chain[5].time,
        actor="person:mallory",
        event="key.destroyed",
        level="notice",
        details={},
        prev_hash=chain[4].hash,
    )
    report = verify([*chain[:5], fake, *chain[5:]], original=chain)
    assert kinds(report) == [(FindingKind.INSERTED, 6, None)]


def test_inserting_an_entry_and_renumbering_the_rest_names_the_insertion_first() -> None:
    chain = build_chain(12)
    fake = make_entry(
        seq=6,
        time=chain[5].time,
        actor="person:mallory",
        event="key.destroyed",
        level="notice",
        details={},
        prev_hash=chain[4].hash,
    )
    shifted = [with_seq(e, e.seq + 1) for e in chain[5:]]
    report = verify([*chain[:5], fake, *shifted], original=chain)
    assert kinds(report)[0] == (FindingKind.INSERTED, 6, None)
    assert (FindingKind.REORDERED, 7, 13) in kinds(report)  # one range, not seven lines


def test_swapping_two_stored_entries_is_found_as_reordered() -> None:
    chain = build_chain(12)
    tampered = [*chain[:4], chain[5], chain[4], *chain[6:]]
    report = verify(tampered, original=chain)
    assert kinds(report) == [(FindingKind.REORDERED, 5, None)]
    assert report.findings[0].detail == "stored after seq 6"


def test_swapping_the_sequence_numbers_of_two_rows_is_found_at_both() -> None:
    chain = build_chain(12)
    tampered = [*chain[:4], with_seq(chain[5], 5), with_seq(chain[4], 6), *chain[6:]]
    report = verify(tampered, original=chain)
    assert kinds(report) == [(FindingKind.REORDERED, 5, None), (FindingKind.REORDERED, 6, None)]
    assert "renumbered" in report.findings[0].detail


def test_cutting_the_tail_is_found_against_the_last_checkpoint() -> None:
    chain = build_chain(20)
    report = verify(chain[:14], original=chain, checkpoint_seqs=(10, 20))
    assert kinds(report) == [(FindingKind.TRUNCATED, 15, 20)]
    assert "its tail was cut" in report.findings[0].detail


def test_cutting_the_tail_is_found_against_the_head_row() -> None:
    chain = build_chain(20)
    head = Anchor(20, chain[-1].hash, "the head row")
    report = verify(chain[:18], original=chain, checkpoint_seqs=(10,), head=head)
    assert kinds(report) == [(FindingKind.TRUNCATED, 19, 20)]


def test_entries_beyond_the_head_row_are_inserted() -> None:
    chain = build_chain(20)
    head = Anchor(18, chain[17].hash, "the head row")
    report = verify(chain, original=chain, checkpoint_seqs=(10,), head=head)
    assert kinds(report) == [(FindingKind.INSERTED, 19, 20)]


def test_replacing_the_whole_chain_without_the_key_breaks_every_checkpoint() -> None:
    chain = build_chain(30)
    fake = rechain([dataclasses.replace(e, actor="person:mallory") for e in chain])
    report = verify(fake, original=chain, checkpoint_seqs=(10, 20, 30))
    assert kinds(report) == [
        (FindingKind.REPLACED, 10, None),
        (FindingKind.REPLACED, 20, None),
        (FindingKind.REPLACED, 30, None),
        (FindingKind.UNSIGNED, 1, 30),
    ]


def test_replacing_the_chain_and_signing_with_another_key_is_untrusted() -> None:
    chain = rechain([dataclasses.replace(e, actor="person:mallory") for e in build_chain(10)])
    mallory = Ed25519Signer.generate()
    report = verify_chain(chain, keys=KEYS, checkpoints=[sign_checkpoint(mallory, chain[-1])])
    assert kinds(report) == [(FindingKind.UNTRUSTED_KEY, 10, None), (FindingKind.UNSIGNED, 1, 10)]


def test_replacing_the_chain_and_dropping_its_checkpoints_leaves_it_unsigned() -> None:
    report = verify_chain(build_chain(10), keys=KEYS)
    assert kinds(report) == [(FindingKind.UNSIGNED, 1, 10)]


def test_a_checkpoint_with_an_altered_head_fails_its_signature() -> None:
    chain = build_chain(10)
    cp = sign_checkpoint(KEY, chain[-1])
    altered = dataclasses.replace(cp, head_hash="00" * 32)
    report = verify_chain(chain, keys=KEYS, checkpoints=[altered, sign_checkpoint(KEY, chain[4])])
    assert kinds(report) == [(FindingKind.BAD_SIGNATURE, 10, None)]


def test_a_chain_that_does_not_continue_its_anchor_has_a_bad_start() -> None:
    chain = build_chain(5, start_seq=11, prev_hash="11" * 32)
    anchor = Anchor(10, "22" * 32, "archive audit-1-10")
    report = verify(chain, anchor=anchor)
    assert kinds(report) == [(FindingKind.BAD_START, 11, None)]


def test_a_chain_continuing_its_anchor_verifies() -> None:
    chain = build_chain(5, start_seq=11, prev_hash="11" * 32)
    assert verify(chain, anchor=Anchor(10, "11" * 32, "archive audit-1-10")).ok
    assert verify(chain, anchor=None).ok


def test_an_archive_seal_supplies_the_anchor() -> None:
    chain = build_chain(5, start_seq=11, prev_hash="11" * 32)
    seal = sign_checkpoint(KEY, chain[-1], start=(10, "11" * 32))
    assert verify_chain(chain, keys=KEYS, checkpoints=[seal], anchor=None).ok
    cut = verify_chain(chain[2:], keys=KEYS, checkpoints=[seal], anchor=None)
    assert kinds(cut) == [(FindingKind.DELETED, 11, 12)]


def test_a_range_that_is_not_the_whole_log_needs_no_checkpoint() -> None:
    chain = build_chain(30)
    report = verify_chain(chain[9:20], keys=KEYS, anchor=None, complete=False)
    assert report.ok
    assert report.unsigned_tail == (10, 20)


def test_every_broken_place_is_reported_in_order() -> None:
    chain = build_chain(40)
    tampered = list(chain)
    tampered[30] = dataclasses.replace(chain[30], actor="person:mallory")
    tampered[10] = dataclasses.replace(chain[10], level="error")
    del tampered[20]
    report = verify(tampered[:35], original=chain, checkpoint_seqs=(10, 40))
    assert kinds(report) == [
        (FindingKind.MODIFIED, 11, None),
        (FindingKind.DELETED, 21, 21),
        (FindingKind.MODIFIED, 31, None),
        (FindingKind.TRUNCATED, 37, 40),
    ]


def test_a_run_of_modified_entries_is_one_range() -> None:
    chain = build_chain(20)
    tampered = [dataclasses.replace(e, level="error") if 5 <= e.seq <= 9 else e for e in chain]
    assert kinds(verify(tampered, original=chain)) == [(FindingKind.MODIFIED, 5, 9)]


def test_an_empty_log_is_fine_and_a_genesis_anchor_is_the_default() -> None:
    report = verify_chain([], keys=KEYS)
    assert report.ok
    assert (report.entries, report.last_seq) == (0, None)
    assert GENESIS.seq == 0


TAMPERINGS = ("modify", "delete", "insert", "swap", "cut")


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(min_value=3, max_value=150),
    data=st.data(),
    tampering=st.sampled_from(TAMPERINGS),
)
def test_any_single_tampering_is_detected(n: int, data: st.DataObject, tampering: str) -> None:
    chain = build_chain(n)
    i = data.draw(st.integers(min_value=0, max_value=n - 2), label="index")
    tampered = list(chain)
    if tampering == "modify":
        tampered[i] = dataclasses.replace(chain[i], actor="person:mallory")
    elif tampering == "delete":
        del tampered[i]
    elif tampering == "insert":
        fake = make_entry(
            seq=chain[i].seq,
            time=chain[i].time,
            actor="person:mallory",
            event="key.destroyed",
            level="notice",
            details={},
            prev_hash=chain[i].prev_hash,
        )
        tampered.insert(i, fake)
    elif tampering == "swap":
        tampered[i], tampered[i + 1] = tampered[i + 1], tampered[i]
    else:
        tampered = tampered[: i + 1]
    report = verify(tampered, original=chain)
    assert not report.ok
    first = report.findings[0]
    assert first.first_seq is not None
    assert first.first_seq in {chain[i].seq, chain[i].seq + 1, chain[i + 1].seq + 1}
