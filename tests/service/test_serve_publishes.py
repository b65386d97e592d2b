"""Issue 21: a real ``tldsec serve`` writes the public repository and sends the notices
on its own thread beside the cycles (notify/worker.py), and keeps serving."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.distribute.homes import make_home, tldsec
from tests.notify.smtpserver import Mailbox, smtp_server
from tests.service.running import Serve, secondary_config
from tldsec.clock import SystemClock

DPS = Path(__file__).parents[1] / "fixtures" / "dps-model.txt"


def test_serve_publishes_the_repository_and_sends_notices(tmp_path: Path) -> None:
    box = Mailbox()
    soon = (SystemClock().now() + timedelta(days=10)).date().isoformat()
    with smtp_server(box) as port:
        extra = (
            secondary_config()
            + f"""
[[publish.dps]]
version = "1.0"
file = "dps.txt"
effective = "2020-01-01"

[[publish.dps]]
version = "2.0"
file = "dps.txt"
effective = "{soon}"
summary = "KSK algorithm 13"

[notify]
smtp_host = "127.0.0.1"
smtp_port = {port}
security = "none"
operator = ["noc@nic.example"]
every_seconds = 0.5

[notify.recipients]
dps-change = ["operator"]
rollover-ahead = []
incident = []
incident-ended = []
"""
        )
        home = make_home(tmp_path / "home", extra=extra)
        (home / "dps.txt").write_text(DPS.read_text("utf-8"), "utf-8")
        tldsec("cycle", "--home", str(home))
        serve = Serve.start(home, tmp_path / "serve.log", "--no-epp")
        try:
            site = home / "public"
            serve.wait(lambda: (site / "ds.zone").exists(), "the public repository")
            serve.wait(lambda: len(box.messages) == 1, "the DPS change notice")
            assert serve.health()[0] == 200
        finally:
            serve.stop()
    exported = tldsec("keys", "export-ds", "--home", str(home)).stdout
    lines = [line.split("  ;")[0] for line in exported.splitlines()]
    assert (site / "ds.zone").read_text().splitlines() == lines
    assert str(box.messages[0]["X-Tldsec-Notice"]) == "dps-change:2.0"
    assert str(box.messages[0]["To"]) == "noc@nic.example"
