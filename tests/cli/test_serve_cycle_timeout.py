"""``tldsec serve`` stops a cycle process that runs too long ([cycle] timeout_seconds):
the scheduler sees a failed cycle, the failure is audited, and no process is left."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.cli.test_init_sign import audit_events
from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.cycle import load_cycle_settings
from tldsec.distribute.config import load_distribute_settings
from tldsec.errors import ConfigError
from tldsec.service.supervisor import Service as Registry
from tldsec.settings import CONFIG_NAME, load_settings


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example", "--keystore", "file"]) == 0
    capsys.readouterr()
    return home


def registry(home: Path, argv: list[str], timeout: float) -> Registry:
    settings = load_settings(home)
    dist = load_distribute_settings(settings)
    return Registry(settings, SystemClock(), dist, cycle_argv=argv, cycle_timeout=timeout)


def test_a_cycle_that_runs_too_long_is_stopped_and_audited(home: Path, tmp_path: Path) -> None:
    # A "cycle" that hangs, as one waiting on a dead HSM would.
    hung = [sys.executable, "-c", "import time; time.sleep(120)"]
    reg = registry(home, hung, timeout=0.5)
    result = asyncio.run(reg._run_cycle(False))
    assert result is not None and result["outcome"] == "failed"
    assert "timeout_seconds = 0.5" in result["reason"]
    assert reg._child is None
    (failed,) = audit_events(home, tmp_path, "cycle.failed")
    details = failed["details"]
    assert isinstance(details, dict) and details["stage"] == "timeout"


def test_a_cycle_within_the_timeout_reports_its_result(home: Path) -> None:
    quick = [sys.executable, "-c", 'print(\'{"outcome": "unchanged"}\')']
    result = asyncio.run(registry(home, quick, timeout=30)._run_cycle(False))
    assert result == {"outcome": "unchanged"}


def test_the_timeout_is_a_setting_and_a_bad_one_is_named(tmp_path: Path) -> None:
    config = tmp_path / CONFIG_NAME
    zone = '[zone]\norigin = "example"\n'
    config.write_text(zone)
    assert load_cycle_settings(load_settings(tmp_path)).timeout_seconds == 2400
    config.write_text(zone + "[cycle]\ntimeout_seconds = 600\n")
    assert load_cycle_settings(load_settings(tmp_path)).timeout_seconds == 600
    config.write_text(zone + "[cycle]\ntimeout_seconds = 0\n")
    with pytest.raises(ConfigError, match=r"\[cycle\] timeout_seconds .* must be above 0"):
        load_settings(tmp_path)
