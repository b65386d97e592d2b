"""Issue 16: evidence an insider removes must not verify as "intact".

Each test is one attack of the issue, done the way the insider would (the SQLite file's
owner drops the triggers; the application inserts an archive record), and shows that
``tldsec audit verify`` now fails and names what happened.
"""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tldsec.audit.anchors import FileAnchor
from tldsec.audit.config import audit_config, open_audit_log
from tldsec.audit.signing import FileAuditSigner
from tldsec.audit.verification import verify_database
from tldsec.cli.main import main
from tldsec.clock import FakeClock
from tldsec.db.base import make_engine
from tldsec.settings import load_settings

from .conftest import START

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*argv: str | Path) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def make_home(tmp_path: Path, audit: str = "") -> Path:
    home = tmp_path / "home"
    home.mkdir()
    policy = Path(__file__).parents[2] / "src/tldsec/policies/dps.toml"
    text = policy.read_text("utf-8").replace(
        'allowed_backends = ["pkcs11"]', 'allowed_backends = ["pkcs11", "file"]'
    )
    (home / "policy.toml").write_text(text, "utf-8")
    (home / "tldsec.toml").write_text(
        '[zone]\norigin = "example"\n[keystore]\nbackend = "file"\n[policy]\nfile = "policy.toml"\n'
        f"[audit]\ncheckpoint_every = 5\n{audit}",
        "utf-8",
    )
    return home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path)


def fill(home: Path, clock: FakeClock, n: int, *, step: timedelta = timedelta(minutes=1)) -> None:
    """``n`` entries (checkpoints every 5, so each lands in the anchors too)."""
    log = open_audit_log(load_settings(home), clock)
    try:
        while log.head().seq < n:
            clock.advance(step)
            log.record("ds.received", actor="registrar:reg-1", domain="a.example")
        log.checkpoint()  # as every cycle does
    finally:
        log.close()


def attacker(home: Path) -> sqlite3.Connection:
    """The audit database as its file's owner sees it: every trigger dropped."""
    conn = sqlite3.connect(home / "audit.db", isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    return conn


def rewind(conn: sqlite3.Connection, n: int) -> None:
    """Delete entries and checkpoints after ``n`` and move the head back to ``n``."""
    (hash_,) = conn.execute("SELECT hash FROM audit_entries WHERE seq = ?", (n,)).fetchone()
    (cp,) = conn.execute("SELECT max(seq) FROM audit_checkpoints WHERE seq <= ?", (n,)).fetchone()
    conn.execute("DELETE FROM audit_entries WHERE seq > ?", (n,))
    conn.execute("DELETE FROM audit_checkpoints WHERE seq > ?", (n,))
    conn.execute("UPDATE audit_head SET seq = ?, hash = ?, checkpoint_seq = ?", (n, hash_, cp or 0))


def test_a_rewind_to_an_older_checkpoint_is_named_by_the_checkpoint_files(
    home: Path, run: Run
) -> None:
    fill(home, FakeClock(START), 45)
    conn = attacker(home)
    rewind(conn, 2)
    conn.close()
    code, out, _ = run("audit", "verify", "--home", home, "--no-record")
    assert code == 3, out
    broken = next(line for line in out.splitlines() if line.startswith("BROKEN:"))
    assert "rewound at seq 3-45" in broken
    assert "the log ends at 2" in broken and "says entry 45 existed" in broken
    assert f"checkpoint files {home / 'audit-anchors'}" in broken


def test_without_an_anchor_the_same_rewind_would_verify_which_is_why_status_warns(
    home: Path, run: Run
) -> None:
    fill(home, FakeClock(START), 45)
    conn = attacker(home)
    rewind(conn, 40)
    conn.close()
    for path in (home / "audit-anchors").iterdir():
        path.chmod(0o600)
        path.unlink()  # the same owner could: the directory belongs elsewhere
    code, out, _ = run("audit", "verify", "--home", home, "--no-record")
    assert code == 0, out
    assert "anchor checkpoint files" in out and ": 0 checkpoints" in out


def test_a_witness_database_catches_the_rewind_the_file_owner_hid(tmp_path: Path, run: Run) -> None:
    witness = tmp_path / "witness" / "witness.db"
    witness.parent.mkdir()
    home = make_home(tmp_path, f'witness_url = "sqlite:///{witness}"\n')
    fill(home, FakeClock(START), 30)
    conn = attacker(home)
    rewind(conn, 12)
    conn.close()
    for path in (home / "audit-anchors").iterdir():
        path.chmod(0o600)
        path.unlink()
    code, out, _ = run("audit", "verify", "--home", home, "--no-record")
    assert code == 3, out
    assert f"witness database sqlite:///{witness}" in out
    assert "the log ends at 12" in out and "says entry 30 existed" in out


def test_checkpoint_files_are_per_day_append_only_and_read_only_once_closed(
    home: Path,
) -> None:
    clock = FakeClock(START)
    fill(home, clock, 10, step=timedelta(hours=2))  # crosses into the next day
    fill(home, clock, 40, step=timedelta(hours=2))
    directory = home / "audit-anchors"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = sorted(directory.iterdir())
    assert len(files) >= 2
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o400 for p in files[:-1])
    assert stat.S_IMODE(files[-1].stat().st_mode) == 0o600
    seqs = [cp.seq for cp in FileAnchor(directory).checkpoints()]
    assert seqs == sorted(seqs) and seqs[-1] == 40
    # A line cut by a crash mid-write is not a checkpoint, and not an error either.
    with files[-1].open("a") as f:
        f.write('{"record":"checkpoint","seq":')
    assert [cp.seq for cp in FileAnchor(directory).checkpoints()] == seqs


def test_a_forged_archive_record_does_not_let_the_database_purge(home: Path) -> None:
    fill(home, FakeClock(START), 20)
    conn = sqlite3.connect(home / "audit.db", isolation_level=None)
    (hash_,) = conn.execute("SELECT hash FROM audit_entries WHERE seq = 10").fetchone()
    conn.execute(
        "INSERT INTO audit_archives VALUES (10, 1, ?, ?, '2025-01-01 00:00:00', 'x.jsonl', ?,"
        " '2025-01-01 00:00:00', 'k')",
        ("0" * 64, hash_, "f" * 64),
    )
    with pytest.raises(sqlite3.IntegrityError, match="archive the log registered"):
        conn.execute("DELETE FROM audit_entries WHERE seq <= 10")
    conn.close()


def test_a_purge_on_a_forged_archive_record_is_found_by_verify(home: Path, run: Run) -> None:
    fill(home, FakeClock(START), 20)
    conn = attacker(home)
    (hash_,) = conn.execute("SELECT hash FROM audit_entries WHERE seq = 10").fetchone()
    conn.execute(
        "INSERT INTO audit_archives VALUES (10, 1, ?, ?, '2025-01-01 00:00:00', 'x.jsonl', ?,"
        " '2025-01-01 00:00:00', 'k')",
        ("0" * 64, hash_, "f" * 64),
    )
    conn.execute("DELETE FROM audit_entries WHERE seq <= 10")
    conn.close()
    code, out, _ = run("audit", "verify", "--home", home, "--no-record")
    assert code == 3, out
    assert "archive x.jsonl seq 1-10" in out and "missing" in out
    assert "matches no audit.archived entry" in out and "purged on its strength" in out


def _archived_home(home: Path, run: Run) -> Path:
    """Two years of entries; the first year archived and purged."""
    clock = FakeClock(START - timedelta(days=730))
    fill(home, clock, 30, step=timedelta(days=20))
    clock.set(START)
    fill(home, clock, 32)
    assert run("audit", "archive", "--home", home)[0] == 0
    code, out, err = run("audit", "purge", "--home", home)
    assert code == 0 and out.startswith("purged"), (out, err)
    (archive,) = (home / "audit-archive").iterdir()
    return archive


def test_an_archive_deleted_within_its_retention_fails_verify(home: Path, run: Run) -> None:
    archive = _archived_home(home, run)
    assert stat.S_IMODE(archive.parent.stat().st_mode) == 0o700
    code, out, _ = run("audit", "verify", "--home", home, "--no-record")
    assert code == 0, out
    assert f"archive {archive.name}" in out and ": verified" in out
    archive.unlink()
    code, out, _ = run("audit", "verify", "--home", home, "--no-record")
    assert code == 3, out
    assert f"archive {home / 'audit-archive' / archive.name} is missing" in out


def test_an_archive_changed_within_its_retention_fails_verify(home: Path, run: Run) -> None:
    archive = _archived_home(home, run)
    archive.chmod(0o600)
    archive.write_text(archive.read_text("utf-8").replace("reg-1", "reg-2"), "utf-8")
    code, out, _ = run("audit", "verify", "--home", home, "--no-record")
    assert code == 3 and "is changed" in out, out


def test_an_archive_past_its_retention_may_go(home: Path, run: Run) -> None:
    archive = _archived_home(home, run)
    archive.unlink()
    settings = load_settings(home)
    config = audit_config(settings)
    engine = make_engine(config.db_url)
    signer = FileAuditSigner.load(config.key_file)
    try:
        result = verify_database(
            engine,
            {signer.key_id: signer.public_key()},
            now=START + timedelta(days=4 * 365),
            anchors=config.anchors(),
            archive_dir=config.archive_dir,
            archive_retention=settings.policy.audit.archive_retention,
        )
    finally:
        engine.dispose()
    assert result.report.ok, result.report.findings
    assert [a.state for a in result.archives] == ["expired"]


def test_checkpoint_records_in_files_are_the_database_checkpoints(home: Path) -> None:
    fill(home, FakeClock(START), 10)
    conn = sqlite3.connect(home / "audit.db")
    in_db = {
        (seq, sig) for seq, sig in conn.execute("SELECT seq, signature FROM audit_checkpoints")
    }
    conn.close()
    lines = [
        json.loads(line)
        for path in (home / "audit-anchors").iterdir()
        for line in path.read_text("ascii").splitlines()
    ]
    assert {(r["seq"], r["signature"]) for r in lines} == in_db


def test_a_period_export_verifies_with_only_the_public_key(
    home: Path, run: Run, tmp_path: Path
) -> None:
    clock = FakeClock(START)
    fill(home, clock, 40, step=timedelta(hours=1))
    export = tmp_path / "period.jsonl"
    pub = tmp_path / "audit.pub"
    since, until = (
        (START + timedelta(hours=12)).isoformat(),
        (START + timedelta(hours=20)).isoformat(),
    )
    code, _, err = run(
        "audit", "export", "--home", home, "--since", since, "--until", until, "-o", export
    )
    assert code == 0, err
    assert run("audit", "export-key", "--home", home, "-o", pub)[0] == 0
    records = [json.loads(line) for line in export.read_text("utf-8").splitlines()]
    entries = [r for r in records if r["record"] == "entry"]
    assert entries[0]["time"] >= since[:19] and len(entries) == 8
    assert records[0]["prev_hash"] == entries[0]["prev_hash"] != "0" * 64  # the chain link
    assert records[-1]["record"] == "seal" and records[-1]["seq"] == entries[-1]["seq"]
    code, out, _ = run("audit", "verify", "--archive", export, "--public-key", pub)
    assert code == 0, out
    assert f"signed up to seq {entries[-1]['seq']}" in out
    # An entry of the period changed in the auditor's copy is found.
    entries[3]["details"]["domain"] = "b.example"
    export.write_text("\n".join(json.dumps(r) for r in records) + "\n", "utf-8")
    code, out, _ = run("audit", "verify", "--archive", export, "--public-key", pub)
    assert code == 3 and f"modified at seq {entries[3]['seq']}" in out


def test_a_period_export_of_a_tampered_log_is_refused(home: Path, run: Run) -> None:
    fill(home, FakeClock(START), 20)
    conn = attacker(home)
    conn.execute("UPDATE audit_entries SET actor = 'person:mallory' WHERE seq = 5")
    conn.close()
    code, _, err = run("audit", "export", "--home", home, "--from", "2", "--to", "9")
    assert code == 1 and "does not verify, so the period is not sealed: modified at seq 5" in err
