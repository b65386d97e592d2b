"""Archives (DPS 4.4.3): signed files whose chain continues across files; purge only archived."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from tests.audit.conftest import START
from tldsec.audit.archive import (
    archive_old_entries,
    destroy_expired_archives,
    purge_archived,
)
from tldsec.audit.chain import FindingKind, verify_chain
from tldsec.audit.log import AuditLog
from tldsec.audit.query import iter_entries, load_archive_records
from tldsec.audit.signing import Ed25519Signer
from tldsec.audit.sources import archive_input, database_input
from tldsec.clock import FakeClock
from tldsec.errors import AuditError

YEAR = timedelta(days=365)
THREE_YEARS = timedelta(days=3 * 365)


def fill(log: AuditLog, clock: FakeClock, days: int, every: int = 10) -> None:
    """An entry every ``every`` days for ``days`` days, ending now."""
    end = clock.now()
    for day in range(0, days, every):
        clock.set(end - timedelta(days=days - day))
        log.record("key.activated", actor="component:keys", day=day)
    clock.set(end)


def keys(key: Ed25519Signer) -> dict[str, object]:
    return {key.key_id: key.public_key()}


def verify_files(paths: list[Path], key: Ed25519Signer) -> object:
    source = archive_input(paths)
    return verify_chain(
        source.entries,
        keys=keys(key),  # type: ignore[arg-type]
        checkpoints=source.checkpoints,
        anchor=source.anchor,
        malformed=source.malformed,
    )


def verify_db(engine: Engine, key: Ed25519Signer) -> object:
    source = database_input(engine)
    return verify_chain(
        source.entries,
        keys=keys(key),  # type: ignore[arg-type]
        checkpoints=source.checkpoints,
        anchor=source.anchor,
        head=source.head,
    )


def archive(log: AuditLog, directory: Path) -> Path:
    result = archive_old_entries(
        log, directory=directory, online_retention=YEAR, actor="person:operator"
    )
    assert result is not None
    return result.path


def test_an_archive_holds_exactly_the_entries_past_the_online_retention(
    audit_log: AuditLog, clock: FakeClock, tmp_path: Path, audit_key: Ed25519Signer
) -> None:
    fill(audit_log, clock, days=600)  # 60 entries, days 0..590 of 600 ago
    path = archive(audit_log, tmp_path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0]["record"] == "archive" and records[-1]["record"] == "seal"
    entries = [r for r in records if r["record"] == "entry"]
    cutoff = START - YEAR
    assert all(r["time"] < cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for r in entries)
    assert [r["seq"] for r in entries] == list(range(1, len(entries) + 1))
    assert len(entries) == 24  # days 0..230 of 600 ago are older than a year
    assert verify_files([path], audit_key).ok  # type: ignore[attr-defined]
    assert load_archive_records(audit_log.engine)[0].file_name == path.name


def test_the_chain_continues_across_archive_files(
    audit_log: AuditLog, clock: FakeClock, tmp_path: Path, audit_key: Ed25519Signer
) -> None:
    fill(audit_log, clock, days=600)
    first = archive(audit_log, tmp_path)
    clock.advance(timedelta(days=200))
    fill(audit_log, clock, days=100)
    second = archive(audit_log, tmp_path)
    assert second != first
    for paths in ([first], [second], [second, first]):
        report = verify_files(paths, audit_key)
        assert report.ok, report.findings  # type: ignore[attr-defined]
    # The second file starts where the first ends: its seal signs that start.
    first_last = json.loads(first.read_text().splitlines()[-1])
    second_head = json.loads(second.read_text().splitlines()[0])
    assert second_head["first_seq"] == first_last["seq"] + 1
    assert second_head["prev_hash"] == first_last["head_hash"]


def test_archive_purge_then_verify_the_archive_alone_and_the_rest_on_line(
    audit_log: AuditLog, clock: FakeClock, tmp_path: Path, audit_key: Ed25519Signer
) -> None:
    fill(audit_log, clock, days=600)
    path = archive(audit_log, tmp_path)
    result = purge_archived(
        audit_log,
        directory=tmp_path,
        online_retention=YEAR,
        actor="person:operator",
        keys=keys(audit_key),  # type: ignore[arg-type]
    )
    assert (result.removed, result.first_seq, result.last_seq) == (24, 1, 24)
    assert next(iter_entries(audit_log.engine)).seq == 25
    assert verify_files([path], audit_key).ok  # type: ignore[attr-defined]
    report = verify_db(audit_log.engine, audit_key)
    assert report.ok, report.findings  # type: ignore[attr-defined]
    events = [e.event for e in iter_entries(audit_log.engine)]
    assert events[-2:] == ["audit.archived", "audit.purged"]


def test_the_database_refuses_to_delete_entries_not_archived(
    audit_log: AuditLog, clock: FakeClock, tmp_path: Path
) -> None:
    fill(audit_log, clock, days=600)
    archive(audit_log, tmp_path)
    with (
        pytest.raises(IntegrityError, match="only entries of an archive the log registered"),
        audit_log.engine.begin() as conn,
    ):
        conn.execute(text("DELETE FROM audit_entries WHERE seq = 25"))


def test_purge_refuses_without_any_archive(audit_log: AuditLog, tmp_path: Path) -> None:
    audit_log.record("access.login", actor="person:a")
    with pytest.raises(AuditError, match="nothing is archived"):
        purge_archived(
            audit_log, directory=tmp_path, online_retention=YEAR, actor="person:a", keys={}
        )


@pytest.mark.parametrize("damage", ["missing", "edited"])
def test_purge_refuses_when_the_archive_file_is_missing_or_changed(
    audit_log: AuditLog, clock: FakeClock, tmp_path: Path, audit_key: Ed25519Signer, damage: str
) -> None:
    fill(audit_log, clock, days=600)
    path = archive(audit_log, tmp_path)
    if damage == "missing":
        path.unlink()
    else:
        path.write_text(path.read_text().replace('"day": 10', '"day": 11'))
    with pytest.raises(AuditError, match="nothing purged"):
        purge_archived(
            audit_log,
            directory=tmp_path,
            online_retention=YEAR,
            actor="person:a",
            keys=keys(audit_key),  # type: ignore[arg-type]
        )
    assert next(iter_entries(audit_log.engine)).seq == 1


def test_an_archive_is_never_written_from_a_tampered_log(
    audit_log: AuditLog, clock: FakeClock, tmp_path: Path
) -> None:
    fill(audit_log, clock, days=600)
    with audit_log.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_entries_no_update"))
        conn.execute(text("UPDATE audit_entries SET actor = 'person:mallory' WHERE seq = 3"))
    with pytest.raises(AuditError, match="modified at seq 3"):
        archive(audit_log, tmp_path / "archive")
    assert list((tmp_path / "archive").iterdir()) == []


def test_a_truncated_archive_file_is_found_against_its_seal(
    audit_log: AuditLog, clock: FakeClock, tmp_path: Path, audit_key: Ed25519Signer
) -> None:
    fill(audit_log, clock, days=600)
    path = archive(audit_log, tmp_path)
    lines = path.read_text().splitlines()

    def dropped(line: str) -> bool:
        record = json.loads(line)
        return record["record"] == "entry" and record["seq"] in (2, 23, 24)

    path.write_text("\n".join(line for line in lines if not dropped(line)) + "\n")
    report = verify_files([path], audit_key)
    kinds = [(f.kind, f.first_seq) for f in report.findings]  # type: ignore[attr-defined]
    assert kinds == [(FindingKind.DELETED, 2), (FindingKind.TRUNCATED, 23)]


def test_garbage_lines_in_a_file_are_malformed_findings(
    audit_log: AuditLog, clock: FakeClock, tmp_path: Path, audit_key: Ed25519Signer
) -> None:
    fill(audit_log, clock, days=600)
    path = archive(audit_log, tmp_path)
    lines = path.read_text().splitlines()
    lines.insert(3, "this is not json")
    lines.insert(5, '{"record": "entry", "seq": "x"}')
    path.write_text("\n".join(lines) + "\n")
    report = verify_files([path], audit_key)
    details = [f.detail for f in report.findings if f.kind is FindingKind.MALFORMED]  # type: ignore[attr-defined]
    assert details == [
        f"{path.name} line 4: not an audit record",
        f"{path.name} line 6: bad entry record ('details')",
    ]


def test_archives_are_kept_for_the_archive_retention_then_expire(
    audit_log: AuditLog, clock: FakeClock, tmp_path: Path, audit_key: Ed25519Signer
) -> None:
    fill(audit_log, clock, days=600)
    path = archive(audit_log, tmp_path)
    purge_archived(
        audit_log,
        directory=tmp_path,
        online_retention=YEAR,
        actor="person:a",
        keys=keys(audit_key),  # type: ignore[arg-type]
    )
    newest = load_archive_records(audit_log.engine)[0].newest_time
    clock.set(newest + THREE_YEARS - timedelta(days=1))
    assert (
        destroy_expired_archives(
            audit_log, directory=tmp_path, archive_retention=THREE_YEARS, actor="person:a"
        )
        == []
    )
    clock.set(newest + THREE_YEARS + timedelta(days=1))
    assert destroy_expired_archives(
        audit_log, directory=tmp_path, archive_retention=THREE_YEARS, actor="person:a"
    ) == [path]
    assert not path.exists()
    assert [e.event for e in iter_entries(audit_log.engine)][-1] == "audit.archive_destroyed"


def test_an_archive_whose_entries_are_still_online_is_not_destroyed(
    audit_log: AuditLog, clock: FakeClock, tmp_path: Path
) -> None:
    fill(audit_log, clock, days=600)
    path = archive(audit_log, tmp_path)
    clock.advance(timedelta(days=5 * 365))
    assert (
        destroy_expired_archives(
            audit_log, directory=tmp_path, archive_retention=THREE_YEARS, actor="person:a"
        )
        == []
    )
    assert path.exists()
