"""``tldsec status`` of a home of two zones (decision 75): the installation's parts (audit
log, HSM, serve, ceremonies, notices) once, then one section per zone with only that
zone's facts; ``--json`` likewise: the installation's keys once and a ``zones`` mapping
of each zone's report; the exit code the worst of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.service.twozones import cycle, two_zone_home
from tldsec.cli.main import main
from tldsec.errors import ExitCode

INSTALLATION = ("audit", "ceremonies", "hsm", "serve", "notices")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_the_installation_once_then_each_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = two_zone_home(tmp_path / "home", capsys)
    serials = {o: cycle(home, o, capsys)["serial"] for o in ("example.", "shop.")}

    code, out = run(capsys, "status", "--json", "--home", str(home))
    report = json.loads(out)
    for key in INSTALLATION:
        assert key in report, key
    assert report["hsm"]["state"] == "keys on disk"
    assert report["audit"]["initialized"] is True
    assert list(report["zones"]) == ["example.", "shop."]
    for origin, zone in report["zones"].items():
        assert zone["zone"] == origin and zone["serial"] == serials[origin]
        assert not set(INSTALLATION) & set(zone), (origin, sorted(zone))
        assert zone["health"]["exit"] in ExitCode.__members__
    assert report["health"]["exit"] in ExitCode.__members__
    assert code == ExitCode[report["exit"]]
    code, out = run(capsys, "status", "--zone", "shop", "--json", "--home", str(home))
    shop = json.loads(out)
    assert list(shop["zones"]) == ["shop."] and "audit" in shop

    code, out = run(capsys, "status", "--home", str(home))
    sections = out.split("\n\n== ")
    assert sections[0].startswith("== installation ==\n"), out
    assert [s.split(" ==\n")[0] for s in sections[1:]] == ["example.", "shop."], out
    installation, zones = sections[0], sections[1:]
    for line in ("audit log ", "HSM ", "health "):
        assert installation.count("\n" + line) == 1, (line, installation)
    for section in zones:
        assert "\naudit log " not in section and "\nHSM " not in section, section
        assert "\nnext key event " in section and "\nsignatures " in section, section
        assert "\nhealth " in section, section
