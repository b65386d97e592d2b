"""DPS 4.4.1: every command that opens the audit log records a changed configuration,
policy or software version against the last one the log holds (old and new value), and
nothing when unchanged, so commands run from cron do not flood the log."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from tldsec import __version__
from tldsec.audit.config import open_audit_log
from tldsec.audit.startup import record_start
from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.settings import load_settings

CHANGES = ("config.changed", "policy.changed", "software.updated")


def _entries(home: Path) -> list[tuple[int, str, str, dict[str, object]]]:
    with sqlite3.connect(home / "audit.db") as conn:
        rows = conn.execute("SELECT seq, event, actor, details FROM audit_entries ORDER BY seq")
        return [(s, e, a, json.loads(d) if isinstance(d, str) else d) for s, e, a, d in rows]


def _changes(home: Path) -> list[tuple[int, str, str, dict[str, object]]]:
    return [e for e in _entries(home) if e[1] in CHANGES]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example", "--keystore", "file"]) == 0
    capsys.readouterr()
    return home


def _command(home: Path) -> None:
    assert main(["audit", "checkpoint", "--home", str(home)]) == 0


def _initialized(home: Path) -> dict[str, object]:
    (first,) = [e for e in _entries(home) if e[1] == "audit.initialized"]
    return first[3]


def test_the_log_starts_with_the_version_and_file_hashes(home: Path) -> None:
    details = _initialized(home)
    assert details["version"] == __version__
    assert details["config_sha256"] == _sha256(home / "tldsec.toml")
    assert details["policy_sha256"] == _sha256(Path(str(details["policy_file"])))


def test_unchanged_files_add_no_entry(home: Path) -> None:
    for _ in range(3):
        _command(home)
    assert _changes(home) == []


def test_a_config_edited_between_two_commands_is_one_change_with_both_hashes(
    home: Path,
) -> None:
    config = home / "tldsec.toml"
    _command(home)
    before = _sha256(config)
    with open(config, "a", encoding="utf-8") as f:
        f.write("\n# edited by an operator\n")
    _command(home)
    _command(home)  # the next command sees it recorded already
    ((_, event, actor, details),) = _changes(home)
    assert event == "config.changed" and actor == "component:audit"
    assert details["previous_sha256"] == before
    assert details["sha256"] == _sha256(config) != before
    assert details["file"] == str(config)


def test_a_policy_edit_and_a_new_version_are_recorded_once(home: Path) -> None:
    policy = Path(str(_initialized(home)["policy_file"]))
    before = _sha256(policy)
    policy.write_text(policy.read_text() + "\n# edited\n")
    _command(home)
    ((_, event, _actor, details),) = _changes(home)
    assert event == "policy.changed"
    assert (details["previous_sha256"], details["sha256"]) == (before, _sha256(policy))
    # serve's start compares with the log too: nothing recorded twice, the version once
    settings = load_settings(home)
    log = open_audit_log(settings, SystemClock())
    try:
        written = record_start(log, settings, actor="component:serve", version="99.0")
    finally:
        log.close()
    assert [e.event for e in written] == ["software.updated", "system.started"]
    assert written[0].details == {"previous": __version__, "version": "99.0"}
    # and a command of the installed version after it is a version change back
    _command(home)
    assert [e[1] for e in _changes(home)] == [
        "policy.changed",
        "software.updated",
        "software.updated",
    ]
