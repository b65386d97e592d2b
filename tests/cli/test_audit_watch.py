"""``tldsec audit watch --once`` as a cron job runs it: alert lines for new entries at
the level or above, exit 0 while the chain holds (DPS 4.4.2)."""

from __future__ import annotations

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
