"""Issue 16: DPS 4.4.1 events around the processes themselves: a wrong HSM PIN (5.5), a
cycle child dying without a result, serve's starts (version, config and policy hashes),
its crash found at the next start, and a configuration changed while it runs."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.cli.test_init_sign import ZONE, audit_events, sign
from tests.cli.test_serve_cycle_timeout import home, registry
from tldsec import __version__
from tldsec.audit.config import open_audit_log
from tldsec.audit.startup import record_start, record_stop
from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.settings import load_settings

__all__ = ["home"]  # the fixture


def test_a_wrong_hsm_pin_is_a_failed_access_in_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "hsm-home"
    assert main(["init", "--home", str(home), "--origin", "example"]) == 0
    right = (home / "pin").read_text()
    (home / "pin").write_text("0000\n")
    zone = tmp_path / "example.zone"
    zone.write_text(ZONE)
    capsys.readouterr()
    assert sign(home, zone, tmp_path / "out.zone") == 1
    assert "PIN" in capsys.readouterr().err
    (home / "pin").write_text(right)  # the audit key may be in that token too
    (failed,) = audit_events(home, tmp_path, "access.login_failed")
    details = failed["details"]
    assert isinstance(details, dict)
    assert details["channel"] == "hsm" and details["command"] == "sign"
    assert "PIN" in str(details["error"]) and str(failed["actor"]).startswith("person:")


def test_a_cycle_child_that_dies_without_a_result_is_a_crash(home: Path, tmp_path: Path) -> None:
    dying = [sys.executable, "-c", "import sys; sys.exit(3)"]
    reg = registry(home, dying, timeout=30)
    result = asyncio.run(reg._run_cycle(False))
    assert result is not None and result["outcome"] == "failed"
    assert "exited with status 3 and no result" in result["reason"]
    (crash,) = audit_events(home, tmp_path, "system.crash")
    assert crash["actor"] == "component:serve"
    assert crash["details"] == {
        "component": "cycle",
        "exit_status": 3,
        "error": "the cycle process exited with status 3 and no result",
    }


def test_serve_starts_are_recorded_and_a_crash_is_found_at_the_next(
    home: Path, tmp_path: Path
) -> None:
    settings = load_settings(home)
    log = open_audit_log(settings, SystemClock())
    try:
        first = record_start(log, settings, actor="component:serve", version=__version__)
        assert [e.event for e in first] == ["system.started"]
        started = first[0].details
        assert started["version"] == __version__ and len(str(started["config_sha256"])) == 64
        assert started["policy_file"]
        # No stop recorded: the next start finds the crash; a new version and config too.
        with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
            f.write("\n[audit]\ncheckpoint_every = 500\n")
        second = record_start(log, load_settings(home), actor="component:serve", version="99.0")
        assert [e.event for e in second] == [
            "system.crash",
            "software.updated",
            "config.changed",
            "system.started",
        ]
        assert second[0].details["started_seq"] == first[0].seq
        assert second[2].details["previous_sha256"] == started["config_sha256"]
        record_stop(log, actor="component:serve")
        third = record_start(log, load_settings(home), actor="component:serve", version="99.0")
        assert [e.event for e in third] == ["system.started"]  # clean stop, nothing changed
    finally:
        log.close()


def _events_in_file(home: Path, event: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / "audit.db") as conn:
        return conn.execute("SELECT seq FROM audit_entries WHERE event = ?", (event,)).fetchall()


def test_a_configuration_changed_while_serve_runs_is_recorded(home: Path, tmp_path: Path) -> None:
    reg = registry(home, [], timeout=30)
    audit = open_audit_log(reg.settings, reg.clock)

    async def scenario() -> None:
        task = asyncio.create_task(reg.watch_audit(0.05))
        for _ in range(200):
            if reg.audit_watch is not None:
                break
            await asyncio.sleep(0.05)
        policy = home / "policy.toml"
        policy.write_text(policy.read_text() + "\n# edited\n")
        for _ in range(200):  # read without opening the log, which would record it itself
            if _events_in_file(home, "policy.changed"):
                break
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    audit.close()
    (changed,) = audit_events(home, tmp_path, "policy.changed")
    assert changed["actor"] == "component:serve"
    assert [e["event"] for e in audit_events(home, tmp_path, "system.started")] == [
        "system.started"
    ]
