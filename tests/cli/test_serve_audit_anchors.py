"""``tldsec serve`` and ``tldsec status`` show the audit anchors, warn when none is out of
the home's reach, and run archive and purge when DPS 4.4.3 says they are due (issue 16)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.cli.test_serve_cycle_timeout import home, registry
from tldsec.audit.config import open_audit_log
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.audit.status import audit_status
from tldsec.cli.main import main
from tldsec.clock import FakeClock, SystemClock
from tldsec.settings import load_settings

__all__ = ["home"]  # the fixture

NO_EXTERNAL = "no audit anchor outside the home"


def _housekeeping(home: Path) -> dict[str, object]:
    reg = registry(home, [], timeout=30)
    audit = open_audit_log(reg.settings, reg.clock)
    try:
        asyncio.run(reg.audit_housekeeping(audit))
    finally:
        audit.close()
    health = reg.health()["audit"]
    assert isinstance(health, dict)
    return health


def test_health_lists_the_anchors_and_warns_without_an_external_one(home: Path) -> None:
    health = _housekeeping(home)
    assert health["anchors"] == [f"checkpoint files {home / 'audit-anchors'}"]
    assert health["external_anchors"] == []
    assert any(NO_EXTERNAL in w for w in health["warnings"])  # type: ignore[attr-defined]


def test_a_witness_is_an_external_anchor_and_the_warning_goes(home: Path, tmp_path: Path) -> None:
    witness = tmp_path / "witness.db"
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[audit]\nwitness_url = "sqlite:///{witness}"\n')
    audit = open_audit_log(load_settings(home), SystemClock())
    audit.record("facility.entry", actor="person:ann")
    audit.checkpoint()
    audit.close()
    health = _housekeeping(home)
    assert health["external_anchors"] == [f"witness database sqlite:///{witness}"]
    assert health["warnings"] == []


def test_status_shows_the_audit_anchors_and_the_next_retention_run(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--home", str(home), "--json"]) == 0
    audit = json.loads(capsys.readouterr().out)["audit"]
    assert audit["initialized"] and audit["head"] >= 1
    assert audit["next_maintenance"]["archive_and_purge"] is not None
    assert any(NO_EXTERNAL in w for w in audit["warnings"])
    assert main(["status", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "audit retention next archive+purge" in out and f"audit WARNING   {NO_EXTERNAL}" in out


def test_serve_archives_and_purges_what_the_schedule_says_is_due(home: Path) -> None:
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[database]\naudit_url = "sqlite:///{home / "old-audit.db"}"\n')
    settings = load_settings(home)
    clock = FakeClock(SystemClock().now() - timedelta(days=800))
    audit = open_audit_log(settings, clock)
    for _ in range(20):
        clock.advance(timedelta(days=20))
        audit.record("facility.entry", actor="person:ann")
    audit.close()
    health = _housekeeping(home)
    (archive,) = (home / "audit-archive").iterdir()
    events = [e.event for e in iter_entries(open_audit_log(settings, SystemClock()).engine)]
    assert "audit.archived" in events and "audit.purged" in events
    first = next(iter_entries(open_audit_log(settings, SystemClock()).engine, EntryFilter()))
    assert first.seq > 1  # the old entries left the database, into the archive
    assert archive.name.startswith("audit-000000000001-")
    assert health["next_maintenance"]["archive_and_purge"] is not None  # type: ignore[index]


def test_status_of_a_home_without_an_audit_log_does_not_create_one(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[database]\naudit_url = "sqlite:///{home / "elsewhere.db"}"\n')
    status = audit_status(load_settings(home), SystemClock())
    assert status["initialized"] is False
    assert not (home / "elsewhere.db").exists()
