"""DPS 4.4.1: a command that ends on a bug (an exception tldsec does not know) is a
``system.crash`` in its home's audit log, by whoever ran it; a command with no home has
nowhere to record it, and an audit log that cannot be written never hides the crash."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tests.cli.test_init_sign import audit_events
from tldsec.cli import zone_admin
from tldsec.cli.common import settings_from_args
from tldsec.cli.main import main
from tldsec.errors import ExitCode


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("crash") / "home"
    assert main(["init", "--home", str(home), "--origin", "example"]) == 0
    return home


def _bug_after_loading_the_home(args: argparse.Namespace) -> int:
    settings_from_args(args)
    raise RuntimeError("list index out of range\n  in a place nobody tested")


def _bug_before_loading_the_home(args: argparse.Namespace) -> int:
    raise RuntimeError("argument handling broke")


def test_a_bug_in_a_command_of_a_home_is_a_crash_in_its_audit_log(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(zone_admin, "_list", _bug_after_loading_the_home)
    assert main(["zone", "list", "--home", str(home)]) == int(ExitCode.FAILED)
    err = capsys.readouterr().err
    assert "unexpected RuntimeError" in err and "not audited" not in err
    monkeypatch.undo()
    (crash,) = audit_events(home, tmp_path, "system.crash")
    assert str(crash["actor"]).startswith("person:")
    assert crash["details"] == {
        "command": "zone",
        "component": "cli",
        "kind": "RuntimeError",
        "error": "list index out of range in a place nobody tested",
    }


def test_an_expected_failure_is_not_a_crash(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(audit_events(home, tmp_path, "system.crash"))
    # A zone the home does not have: a TldsecError, told to the operator, not a bug.
    assert main(["cycle", "--home", str(home), "--zone", "nosuch"]) != 0
    assert "unexpected" not in capsys.readouterr().err
    assert len(audit_events(home, tmp_path, "system.crash")) == before


def test_a_bug_before_the_home_is_loaded_records_nothing_and_warns_of_nothing(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(audit_events(home, tmp_path, "system.crash"))
    monkeypatch.setattr(zone_admin, "_list", _bug_before_loading_the_home)
    assert main(["zone", "list", "--home", str(home)]) == int(ExitCode.FAILED)
    err = capsys.readouterr().err
    assert "unexpected RuntimeError" in err and "warning" not in err
    monkeypatch.undo()
    assert len(audit_events(home, tmp_path, "system.crash")) == before


def test_an_audit_log_that_cannot_be_written_is_a_warning_beside_the_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example"]) == 0
    (home / "audit.db").write_bytes(b"not a database" * 100)  # a disk that lost it
    monkeypatch.setattr(zone_admin, "_list", _bug_after_loading_the_home)
    assert main(["zone", "list", "--home", str(home)]) == int(ExitCode.FAILED)
    err = capsys.readouterr().err
    assert "unexpected RuntimeError" in err
    assert "warning: the crash is not audited" in err
