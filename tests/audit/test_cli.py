"""``tldsec audit ...`` in-process: what an operator and an outside auditor see, exit codes."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sqlite3
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.audit.builders import rechain
from tldsec.audit.config import open_audit_log
from tldsec.audit.entry import Entry, make_entry
from tldsec.audit.events import CATALOGUE
from tldsec.audit.signing import Ed25519Signer, public_key_pem
from tldsec.cli.main import main
from tldsec.clock import FakeClock, SystemClock
from tldsec.settings import load_settings

from .conftest import START

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A minimal home: file key store, the built-in policy allowing it."""
    home = tmp_path / "home"
    home.mkdir()
    policy = Path(__file__).parents[2] / "src/tldsec/policies/dps.toml"
    text = policy.read_text("utf-8").replace(
        'allowed_backends = ["pkcs11"]', 'allowed_backends = ["pkcs11", "file"]'
    )
    (home / "policy.toml").write_text(text, "utf-8")
    (home / "tldsec.toml").write_text(
        '[zone]\norigin = "example"\n[keystore]\nbackend = "file"\n[policy]\nfile = "policy.toml"\n'
        "[audit]\ncheckpoint_every = 1000\n",
        "utf-8",
    )
    return home


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*argv: str | Path) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def db(home: Path) -> sqlite3.Connection:
    """The audit database as an attacker with the file sees it: triggers dropped."""
    conn = sqlite3.connect(home / "audit.db", isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    return conn


def rows(conn: sqlite3.Connection) -> list[Entry]:
    cur = conn.execute(
        "SELECT seq, time, actor, event, level, details, prev_hash, hash, zone "
        "FROM audit_entries ORDER BY seq"
    )
    return [
        Entry(
            seq,
            datetime.fromisoformat(time).replace(tzinfo=UTC),
            actor,
            event,
            level,
            json.loads(details),
            prev_hash,
            hash_,
            zone,
        )
        for seq, time, actor, event, level, details, prev_hash, hash_, zone in cur.fetchall()
    ]


def put(conn: sqlite3.Connection, entry: Entry) -> None:
    conn.execute(
        "INSERT INTO audit_entries (seq, time, actor, event, level, details, prev_hash, hash,"
        " zone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.seq,
            entry.time.strftime("%Y-%m-%d %H:%M:%S.%f"),
            entry.actor,
            entry.event,
            entry.level,
            json.dumps(dict(entry.details)),
            entry.prev_hash,
            entry.hash,
            entry.zone,
        ),
    )


@pytest.fixture
def filled(home: Path, run: Run) -> Path:
    """A home whose log has 20 recorded entries after init, signed at the end."""
    assert run("audit", "init", "--home", home)[0] == 0
    code, _, err = run(
        "audit", "record", "facility.entry", "--actor", "person:alice", "--detail", "n=0",
        "--home", home,
    )  # fmt: skip
    assert code == 0, err
    log = open_audit_log(load_settings(home), SystemClock())
    try:
        for i in range(1, 20):
            event = ("facility.entry", "ds.received", "access.login_failed")[i % 3]
            actor = ("person:alice", "registrar:reg-1", "registrar:reg-2")[i % 3]
            log.record(event, actor=actor, n=str(i))
    finally:
        log.close()
    assert run("audit", "checkpoint", "--home", home)[0] == 0
    return home


def test_init_creates_the_database_and_a_0600_key_and_signs_the_start(home: Path, run: Run) -> None:
    code, out, _ = run("audit", "init", "--home", home)
    assert code == 0
    assert "audit key" in out and "(file: " in out
    assert stat.S_IMODE((home / "audit-key.pem").stat().st_mode) == 0o600
    code, out, _ = run("audit", "verify", "--home", home, "--no-record")
    assert code == 0, out
    assert "OK: the audit log is intact" in out
    assert "note:" not in out  # everything is signed


def test_record_and_show_with_filters(filled: Path, run: Run) -> None:
    code, out, _ = run("audit", "show", "--home", filled, "--event", "facility.")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 7 and all("facility.entry" in line for line in lines)
    code, out, _ = run(
        "audit", "show", "--home", filled, "--actor-filter", "registrar:", "--limit", "3"
    )
    assert len(out.splitlines()) == 3 and "registrar:reg-" in out
    code, out, _ = run(
        "audit", "show", "--home", filled, "--level", "warning", "--event", "access."
    )
    assert len(out.splitlines()) == 6 and "access.login_failed" in out
    # Viewing the log is itself recorded (DPS 4.4.4).
    code, out, _ = run("audit", "show", "--home", filled, "--event", "audit.exported")
    assert out.count("audit.exported") == 3


def test_record_refuses_unknown_events_in_one_line(home: Path, run: Run) -> None:
    run("audit", "init", "--home", home)
    code, _, err = run("audit", "record", "key.stolen", "--actor", "person:a", "--home", home)
    assert code == 1
    assert err.strip().startswith("tldsec: error: audit entry refused: unknown audit event type")
    code, _, err = run("audit", "show", "--home", home, "--event", "key.stolen")
    assert code == 1


def test_an_auditor_verifies_an_export_with_only_the_public_key(
    filled: Path, run: Run, tmp_path: Path
) -> None:
    export = tmp_path / "export.jsonl"
    pub = tmp_path / "audit.pub"
    assert run("audit", "export", "--home", filled, "--output", export)[0] == 0
    code, out, err = run("audit", "export-key", "--home", filled, "--output", pub)
    assert code == 0 and pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert "audit key" in err
    # No home at all on the auditor's machine.
    code, out, _ = run("audit", "verify", "--archive", export, "--public-key", pub)
    assert code == 0, out
    assert "OK" in out
    # The auditor's copy is edited: verify names the line's entry.
    lines = export.read_text().splitlines()
    record = json.loads(lines[9])
    record["details"]["n"] = 99
    lines[9] = json.dumps(record)
    export.write_text("\n".join(lines) + "\n")
    code, out, _ = run("audit", "verify", "--archive", export, "--public-key", pub)
    assert code == 3
    assert f"modified at seq {record['seq']}: content does not match its hash" in out


def test_csv_export_has_a_header_and_one_row_per_entry(filled: Path, run: Run) -> None:
    code, out, _ = run("audit", "export", "--home", filled, "--format", "csv", "--event", "ds.")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == 7
    assert table[0]["event"] == "ds.received" and json.loads(table[0]["details"])["n"] == "1"


def _modify(conn: sqlite3.Connection, k: int) -> None:
    conn.execute("UPDATE audit_entries SET actor = 'person:mallory' WHERE seq = ?", (k,))


def _delete(conn: sqlite3.Connection, k: int) -> None:
    conn.execute("DELETE FROM audit_entries WHERE seq = ?", (k,))


def _insert(conn: sqlite3.Connection, k: int) -> None:
    before = {e.seq: e for e in rows(conn)}[k - 1]
    conn.execute("UPDATE audit_entries SET seq = -(seq + 1) WHERE seq >= ?", (k,))
    conn.execute("UPDATE audit_entries SET seq = -seq WHERE seq < 0")
    put(
        conn,
        make_entry(
            seq=k,
            time=before.time,
            actor="person:mallory",
            event="key.destroyed",
            level="notice",
            details={},
            prev_hash=before.hash,
        ),
    )


def _swap(conn: sqlite3.Connection, k: int) -> None:
    conn.execute("UPDATE audit_entries SET seq = -1 WHERE seq = ?", (k,))
    conn.execute("UPDATE audit_entries SET seq = ? WHERE seq = ?", (k, k + 1))
    conn.execute("UPDATE audit_entries SET seq = ? WHERE seq = -1", (k + 1,))


def _cut(conn: sqlite3.Connection, k: int) -> None:
    kept = {e.seq: e for e in rows(conn)}[k]
    conn.execute("DELETE FROM audit_entries WHERE seq > ?", (k,))
    conn.execute("UPDATE audit_head SET seq = ?, hash = ?", (k, kept.hash))


def _replace(conn: sqlite3.Connection, k: int) -> None:
    fake = rechain([dataclasses.replace(e, actor="person:mallory") for e in rows(conn)])
    conn.execute("DELETE FROM audit_entries")
    for entry in fake:
        put(conn, entry)
    conn.execute("UPDATE audit_head SET hash = ?", (fake[-1].hash,))


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_modify, "modified at seq 10: content does not match its hash"),
        (_delete, "deleted at seq 10: entries are missing"),
        (_insert, "inserted at seq 10: not part of the chain"),
        (_swap, "reordered at seq 10: renumbered"),
        (_cut, "truncated at seq 11-"),
        (_replace, "replaced at seq "),
    ],
    ids=["modify", "delete", "insert", "swap", "cut-tail", "replace-chain"],
)
def test_verify_finds_each_tampering_of_the_database_and_names_the_place(
    filled: Path,
    run: Run,
    tamper: Callable[[sqlite3.Connection, int], None],
    expected: str,
) -> None:
    conn = db(filled)
    tamper(conn, 10)
    conn.close()
    code, out, err = run("audit", "verify", "--home", filled)
    assert code == 3, out
    first = next(line for line in out.splitlines() if line.startswith("BROKEN:"))
    assert expected in first
    # The failure is recorded for the next audit, unless the damage stops the writer.
    code, out, _ = run("audit", "show", "--home", filled, "--event", "audit.verification_failed")
    assert "audit.verification_failed" in out or "not recorded" in err


def test_verify_a_range_by_sequence_number_or_time(filled: Path, run: Run) -> None:
    code, out, _ = run(
        "audit", "verify", "--home", filled, "--from", "5", "--to", "12", "--no-record"
    )
    assert code == 0, out
    assert "checked 8 entries (seq 5-12)" in out
    code, out, _ = run(
        "audit",
        "verify",
        "--home",
        filled,
        "--from",
        "2000-01-01",
        "--to",
        "2999-01-01",
        "--no-record",
    )
    assert code == 0, out
    code, _, err = run("audit", "verify", "--home", filled, "--from", "2999-01-01", "--no-record")
    assert code == 1 and "no entry at or after" in err


def test_verify_with_someone_elses_key_trusts_nothing(
    filled: Path, run: Run, tmp_path: Path
) -> None:
    other = tmp_path / "other.pub"
    other.write_bytes(public_key_pem(Ed25519Signer.generate().public_key()))
    code, out, _ = run("audit", "verify", "--home", filled, "--public-key", other, "--no-record")
    assert code == 3
    assert "untrusted-key" in out and "unsigned" in out


def test_verify_without_an_audit_log_says_so(home: Path, run: Run) -> None:
    code, _, err = run("audit", "verify", "--home", home)
    assert code == 1 and "run 'tldsec audit init'" in err


def test_archive_purge_and_verify_the_archive_alone(home: Path, run: Run, tmp_path: Path) -> None:
    # Two years of entries, written with a clock in the past.
    clock = FakeClock(START - timedelta(days=730))
    log = open_audit_log(load_settings(home), clock)
    for day in range(0, 730, 30):
        clock.set(START - timedelta(days=730 - day))
        log.record("key.activated", actor="component:keys", day=day)
    log.close()
    code, out, err = run("audit", "archive", "--home", home, "--actor", "person:auditor")
    assert code == 0, err
    archive = Path(out.split(" to ")[-1].strip())
    assert archive.parent == home / "audit-archive"
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    code, out, err = run("audit", "purge", "--home", home, "--actor", "person:auditor")
    assert code == 0, err
    assert out.startswith("purged ")
    # The on-line log still verifies, anchored on the archive.
    code, out, _ = run("audit", "verify", "--home", home, "--no-record")
    assert code == 0, out
    # The auditor verifies the archive on its own, with the public key only.
    pub = tmp_path / "audit.pub"
    run("audit", "export-key", "--home", home, "--output", pub)
    code, out, _ = run("audit", "verify", "--archive", archive, "--public-key", pub)
    assert code == 0, out
    code, out, _ = run("audit", "show", "--home", home, "--event", "audit.")
    assert "audit.archived" in out and "audit.purged" in out and "person:auditor" in out


def test_purge_refuses_when_nothing_is_archived(filled: Path, run: Run) -> None:
    code, _, err = run("audit", "purge", "--home", filled)
    assert code == 1
    assert "nothing is archived" in err


def test_archive_with_nothing_old_enough_does_nothing(filled: Path, run: Run) -> None:
    code, out, _ = run("audit", "archive", "--home", filled)
    assert code == 0 and out.startswith("nothing to archive")


def test_events_lists_the_whole_catalogue(run: Run) -> None:
    code, out, _ = run("audit", "events")
    assert code == 0
    assert len(out.splitlines()) == len(CATALOGUE)
    assert "key.destroyed" in out and "facility.entry" in out


def test_grant_is_for_postgresql_only(filled: Path, run: Run) -> None:
    code, _, err = run("audit", "grant", "tldsec_app", "--home", filled)
    assert code == 1 and "only on PostgreSQL" in err


def test_an_auditor_without_a_home_is_told_to_give_the_public_key(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TLDSEC_HOME", raising=False)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, _, err = run("audit", "verify", "--archive", empty)
    assert code == 1 and "--public-key FILE" in err
    pub = tmp_path / "audit.pub"
    pub.write_bytes(public_key_pem(Ed25519Signer.generate().public_key()))
    code, out, _ = run("audit", "verify", "--archive", empty, "--public-key", pub)
    assert code == 3 and "the file is empty" in out
