"""Filters and exports: by time, type, actor, level, range; JSON Lines and CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from tldsec.audit import query
from tldsec.audit.events import Level
from tldsec.audit.log import AuditLog
from tldsec.audit.query import (
    EntryFilter,
    count_entries,
    iter_entries,
    load_checkpoints,
    write_csv,
    write_jsonl,
)
from tldsec.clock import FakeClock

from .conftest import START

ROWS = [
    ("key.generated", "component:keys", None),
    ("access.login", "registrar:reg-1", None),
    ("access.login_failed", "registrar:reg-2", None),
    ("ds.received", "registrar:reg-1", None),
    ("key.destroyed", "person:alice", "critical"),
    ("facility.entry", "person:bob", None),
]


@pytest.fixture
def sample(audit_log: AuditLog, clock: FakeClock) -> AuditLog:
    for event, actor, level in ROWS:
        audit_log.record(event, actor=actor, level=level)
        clock.advance(timedelta(hours=1))
    return audit_log


def seqs(engine: Engine, flt: EntryFilter) -> list[int]:
    return [e.seq for e in iter_entries(engine, flt)]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (EntryFilter(), [1, 2, 3, 4, 5, 6]),
        (EntryFilter(since=START + timedelta(hours=2)), [3, 4, 5, 6]),
        (EntryFilter(until=START + timedelta(hours=2)), [1, 2]),
        (EntryFilter(events=("key.",)), [1, 5]),
        (EntryFilter(events=("access.login", "facility.")), [2, 6]),
        (EntryFilter(actor="registrar:"), [2, 3, 4]),
        (EntryFilter(actor="registrar:reg-1"), [2, 4]),
        (EntryFilter(min_level=Level.WARNING), [3, 5]),
        (EntryFilter(from_seq=2, to_seq=4), [2, 3, 4]),
        (EntryFilter(limit=2), [1, 2]),
        (EntryFilter(events=("access.",), actor="registrar:reg-2"), [3]),
    ],
)
def test_filters_narrow_the_entries(
    sample: AuditLog, flt: EntryFilter, expected: list[int]
) -> None:
    assert seqs(sample.engine, flt) == expected
    assert count_entries(sample.engine, flt) == len(expected) or flt.limit


def test_like_wildcards_in_filters_are_literal(sample: AuditLog) -> None:
    assert seqs(sample.engine, EntryFilter(actor="registrar%:")) == []
    assert seqs(sample.engine, EntryFilter(events=("key_",))) == []


def test_only_unfiltered_selections_are_whole_chains() -> None:
    assert EntryFilter(from_seq=3, to_seq=9).whole_chain
    assert not EntryFilter(actor="person:").whole_chain
    assert not EntryFilter(limit=5).whole_chain


def test_reading_pages_through_long_logs(
    audit_log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query, "PAGE", 4)
    for i in range(11):
        audit_log.record("ds.received", actor="registrar:r", n=i)
    assert seqs(audit_log.engine, EntryFilter(from_seq=3)) == list(range(3, 12))
    assert seqs(audit_log.engine, EntryFilter(limit=9)) == list(range(1, 10))
    assert seqs(audit_log.engine, EntryFilter(from_seq=5, limit=4)) == [5, 6, 7, 8]


def test_jsonl_export_has_entries_then_checkpoints(sample: AuditLog) -> None:
    out = io.StringIO()
    n = write_jsonl(out, iter_entries(sample.engine), load_checkpoints(sample.engine))
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert n == 6
    assert [r["record"] for r in records] == ["entry"] * 6 + ["checkpoint"] * len(records[6:])
    assert records[4]["details"] == {} and records[4]["level"] == "critical"


def test_csv_export_quotes_details_as_json(audit_log: AuditLog) -> None:
    audit_log.record("personnel.action", actor="person:alice", note='said "hello", then left')
    out = io.StringIO()
    write_csv(out, iter_entries(audit_log.engine))
    header, row = list(csv.reader(io.StringIO(out.getvalue())))
    assert header == [
        "seq", "time", "level", "event", "actor", "details", "prev_hash", "hash", "zone"
    ]  # fmt: skip
    assert row[8] == ""  # personnel.action is the installation's: no zone
    assert json.loads(row[5]) == {"note": 'said "hello", then left'}
    assert row[1] == "2025-03-01T12:00:00.000000Z"
