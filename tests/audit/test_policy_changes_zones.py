"""The ``policy.changed`` entries of a home whose zones follow two policies are true
(DPS 4.4.1, decision 82): a command run on settings narrowed to one zone (``cycle
--zone``, ``sign``, ``zone add``) compares the home's policies with the log, as a
whole-home command does, so no file left unedited is ever recorded as changed; an edit
of one policy is one ``policy.changed`` naming it, with its old and new hash."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from tests.service.twozones import follow_long_policy, two_zone_home
from tldsec.audit.config import open_audit_log
from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.settings import load_settings

CHANGES = ("config.changed", "policy.changed")


def _changes(home: Path, after: int = 0) -> list[tuple[int, str, dict[str, object]]]:
    with sqlite3.connect(home / "audit.db") as conn:
        rows = conn.execute(
            "SELECT seq, event, details FROM audit_entries WHERE seq > ? ORDER BY seq", (after,)
        ).fetchall()
    return [(s, e, json.loads(d)) for s, e, d in rows if e in CHANGES]


def _head(home: Path) -> int:
    with sqlite3.connect(home / "audit.db") as conn:
        return int(conn.execute("SELECT max(seq) FROM audit_entries").fetchone()[0])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _whole_home(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "checkpoint", "--home", str(home)]) == 0
    capsys.readouterr()


def _each_zone(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Commands on settings narrowed to one zone: each zone's cycle, and the opening of
    the log by ``for_zone`` settings that ``sign`` and ``zone add`` use."""
    for origin in ("example.", "shop."):
        code = main(["cycle", "--home", str(home), "--zone", origin, "--workers", "1"])
        assert code == 0, capsys.readouterr()
        capsys.readouterr()
        open_audit_log(load_settings(home).for_zone(origin), SystemClock()).close()


def test_narrowed_commands_record_no_policy_change_and_an_edit_is_one_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = two_zone_home(tmp_path / "home", capsys)
    follow_long_policy(home)
    _whole_home(home, capsys)  # records the new tldsec.toml and the two policies, once
    (*_, (_, event, details)) = _changes(home)
    assert event == "policy.changed" and str(details["file"]).startswith("default=")
    recorded = _head(home)

    _each_zone(home, capsys)
    _whole_home(home, capsys)
    _each_zone(home, capsys)
    assert _changes(home, recorded) == []  # nothing was edited

    long = home / "long.toml"
    old = _sha256(long)
    with open(long, "a", encoding="utf-8") as f:
        f.write("\n# reviewed\n")
    edited = _head(home)
    _each_zone(home, capsys)  # the first to open the log after the edit is example.'s cycle
    _whole_home(home, capsys)
    ((_, event, details),) = _changes(home, edited)
    default = f"default={_sha256(home / 'policy.toml')}"
    assert event == "policy.changed" and details["changed"] == ["long"]
    assert details["previous_sha256"] == f"{default}, long={old}"
    assert details["sha256"] == f"{default}, long={_sha256(long)}"
    files = f"default={home / 'policy.toml'}, long={long}"
    assert details["previous_file"] == details["file"] == files
