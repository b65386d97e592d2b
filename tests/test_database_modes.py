"""Issue 16: every database file tldsec creates is 0600 (with its WAL), its home 0700."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tldsec.cli.main import main
from tldsec.db.base import make_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_every_database_and_key_file_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = os.umask(0o022)  # the usual umask, which made them 0644
    try:
        home = tmp_path / "home"
        assert main(["init", "--home", str(home), "--origin", "example", "--keystore", "file"]) == 0
        capsys.readouterr()
    finally:
        os.umask(old)
    assert _mode(home) == 0o700
    databases = sorted(p.name for p in home.glob("*.db"))
    assert {"audit.db", "registry.db", "signer.db"} <= set(databases)
    for path in home.glob("*.db*"):  # the -wal and -shm files too
        assert _mode(path) == 0o600, path
    assert _mode(home / "audit-key.pem") == 0o600
    assert _mode(home / "audit-anchors") == 0o700


def test_an_engine_creates_a_missing_sqlite_file_0600_and_leaves_others_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INTEGER)")
    engine.dispose()
    assert _mode(path) == 0o600
    existing = tmp_path / "y.db"
    existing.touch(mode=0o640)
    existing.chmod(0o640)
    make_engine(f"sqlite:///{existing}").dispose()
    assert _mode(existing) == 0o640


def test_sqlite_commits_are_durable(tmp_path: Path) -> None:
    """Issue 18: a 1000 must survive power loss, so SQLite syncs every commit (FULL)."""
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()


def test_postgresql_synchronous_commit_off_is_named(postgres_url: str) -> None:
    """Issue 18: the registry says when PostgreSQL would acknowledge a 1000 before it is
    durable (synchronous_commit = off); the default (on) is accepted."""
    from sqlalchemy import text

    from tldsec.registry.database import RegistryDatabase

    db = RegistryDatabase.from_url(postgres_url)
    try:
        assert db.durability_warning() is None
        name = db.engine.url.database
        with db.engine.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
            conn.commit()
        db.engine.dispose()  # new connections take the database's setting
        warning = db.durability_warning()
        assert warning is not None and "synchronous_commit is off" in warning
    finally:
        db.dispose()


def test_the_registry_on_sqlite_is_durable(tmp_path: Path) -> None:
    from tldsec.registry.database import RegistryDatabase

    db = RegistryDatabase.from_url(f"sqlite:///{tmp_path / 'registry.db'}")
    try:
        assert db.durability_warning() is None
    finally:
        db.dispose()
