"""Audit databases for tests: a migrated SQLite template copied per test, logs with fakes."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tldsec.audit.clockstatus import FixedClockStatus
from tldsec.audit.log import AuditLog, WriterOptions
from tldsec.audit.schema import upgrade
from tldsec.audit.signing import Ed25519Signer
from tldsec.clock import FakeClock
from tldsec.db.base import make_engine

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def audit_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite audit database at the newest revision, made once per session."""
    path = tmp_path_factory.mktemp("audit-template") / "audit.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def audit_engine(audit_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a fresh copy of the migrated template."""
    path = tmp_path / "audit.db"
    shutil.copy(audit_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def audit_key() -> Ed25519Signer:
    return Ed25519Signer.generate()


LogFactory = Callable[..., AuditLog]


@pytest.fixture
def make_log(clock: FakeClock, audit_key: Ed25519Signer) -> LogFactory:
    """``make_log(engine, **options)``: a writer with the fake clock and a synced probe."""

    def make(engine: Engine, probe: FixedClockStatus | None = None, **options: object) -> AuditLog:
        return AuditLog(
            engine,
            clock,
            signer=audit_key,
            probe=probe or FixedClockStatus(),
            options=WriterOptions(**options),  # type: ignore[arg-type]
        )

    return make


@pytest.fixture
def audit_log(audit_engine: Engine, make_log: LogFactory) -> AuditLog:
    return make_log(audit_engine)
