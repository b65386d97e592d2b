"""``tldsec audit watch --once`` as a cron job runs it: alert lines for new entries at
the level or above, exit 0 while the chain holds (DPS 4.4.2)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tldsec.cli.main import main


def test_the_watch_prints_alerts_and_exits_zero_on_an_intact_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example", "--keystore", "file"]) == 0
    h = ["--home", str(home)]
    assert main(["audit", "record", "facility.entry", "--actor", "person:ann", *h]) == 0
    assert main(["audit", "record", "system.anomaly", "--actor", "person:ann",
                 "--detail", "what=door alarm", *h]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["audit", "watch", "--once", "--from-seq", "0", *h]) == 0
    lines = capsys.readouterr().out.splitlines()
    anomaly = [line for line in lines if " system.anomaly by person:ann: " in line]
    assert len(anomaly) == 1 and anomaly[0].startswith("audit warning: #")
    assert anomaly[0].endswith("what=door alarm")
    assert not any("facility.entry" in line for line in lines)  # info: no alert
    assert main(["audit", "watch", "--once", *h]) == 0  # from the head: nothing new
    assert capsys.readouterr().out == ""


def _init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example", "--keystore", "file"]) == 0
    capsys.readouterr()
    return ["--home", str(home)]


def test_cron_watch_checks_everything_the_first_time_then_continues_where_it_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = _init(tmp_path, capsys)
    assert main(["audit", "record", "system.anomaly", "--actor", "person:ann", *h]) == 0
    capsys.readouterr()
    # The first run starts at entry 1, not at the head (issue 16: it checked nothing).
    assert main(["audit", "watch", "--once", *h]) == 0
    assert " system.anomaly by person:ann" in capsys.readouterr().out
    state = json.loads((tmp_path / "home" / "audit-watch.json").read_text())
    assert state["seq"] >= 2 and len(state["hash"]) == 64
    assert main(["audit", "watch", "--once", *h]) == 0
    assert capsys.readouterr().out == ""  # nothing new since
    assert main(["audit", "record", "access.login_failed", "--actor", "registrar:r1", *h]) == 0
    capsys.readouterr()
    assert main(["audit", "watch", "--once", *h]) == 0
    assert "access.login_failed by registrar:r1" in capsys.readouterr().out
    # --from-seq still overrides the state
    assert main(["audit", "watch", "--once", "--from-seq", "0", *h]) == 0
    assert " system.anomaly by person:ann" in capsys.readouterr().out


def test_cron_watch_catches_an_edit_made_between_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = _init(tmp_path, capsys)
    assert main(["audit", "watch", "--once", *h]) == 0
    seen = json.loads((tmp_path / "home" / "audit-watch.json").read_text())["seq"]
    capsys.readouterr()
    # Between two cron runs someone with the file rewrites the last entry the watch saw.
    conn = sqlite3.connect(tmp_path / "home" / "audit.db", isolation_level=None)
    conn.execute("DROP TRIGGER audit_entries_no_update")
    conn.execute("UPDATE audit_entries SET actor = 'person:mallory' WHERE seq = ?", (seen,))
    conn.close()
    assert main(["audit", "watch", "--once", *h]) == 1
    out = capsys.readouterr().out
    assert f"entry {seen} changed since it was analysed" in out
    # An alarm does not move the position: the next run raises it again.
    assert main(["audit", "watch", "--once", *h]) == 1
