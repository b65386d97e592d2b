"""The hook for ``tldsec serve``: a thread that re-publishes the repository only when it
would say something new, and runs the notice pass; a failing pass stops nothing."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.notify.smtpserver import Mailbox, smtp_server
from tests.notify.test_run import ONLY_OPERATOR, configure
from tldsec.audit.config import open_audit_log
from tldsec.audit.query import EntryFilter, count_entries
from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.errors import ConfigError
from tldsec.notify.worker import Worker, serve_worker
from tldsec.settings import load_settings


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "home"
    assert main(["init", "--home", str(path), "--origin", "example.", "--keystore", "file"]) == 0
    capsys.readouterr()
    return path


def published(home: Path) -> int:
    settings = load_settings(home)
    log = open_audit_log(settings, SystemClock())
    try:
        return count_entries(log.engine, EntryFilter(events=("repository.published",)))
    finally:
        log.close()


def test_the_site_is_rewritten_only_when_it_changed_and_notices_go_out(home: Path) -> None:
    box = Mailbox()
    with smtp_server(box) as port:
        configure(home, port, ONLY_OPERATOR)
        worker = serve_worker(load_settings(home), SystemClock(), interval=3600)
        worker.run_round()
        assert worker.errors == []
        assert (home / "public").is_symlink() and (home / "public" / "ds.zone").exists()
        assert len(box.messages) == 2  # the DPS change and the ZSK roll, to the operator
        worker.run_round()
        assert published(home) == 1 and len(box.messages) == 2  # nothing new: nothing done
        shutil.rmtree(home / "public.versions")  # the site is gone: written again
        worker.run_round()
        assert published(home) == 2 and (home / "public" / "index.html").exists()


def test_a_failing_pass_is_logged_and_the_others_still_run() -> None:
    calls: list[str] = []

    def broken() -> None:
        raise ConfigError("no [[publish.dps]]")

    worker = Worker([("publish", broken), ("notify", lambda: calls.append("notify"))], 3600)
    worker.run_round()
    worker.run_round()
    assert calls == ["notify", "notify"]
    assert worker.errors == ["publish: no [[publish.dps]]"] * 2


def test_the_thread_runs_rounds_until_stopped() -> None:
    calls: list[int] = []
    worker = Worker([("count", lambda: calls.append(1))], interval=0.01)
    worker.start()
    for _ in range(3000):  # bounded wait for two rounds (no assertion on the time)
        if worker.passes_run >= 2:
            break
        time.sleep(0.01)
    worker.stop()
    assert worker.passes_run >= 2
    settled = worker.passes_run
    time.sleep(0.05)
    assert worker.passes_run == settled  # stopped: no round after stop()


def test_a_home_of_two_zones_has_a_notice_pass_per_zone(home: Path) -> None:
    """Each zone's notices come from its own keys: a pass per zone, none refused for
    want of a --zone (serve logged "name one with --zone" on every pass before)."""
    config = home / "tldsec.toml"
    text = config.read_text("utf-8")
    config.write_text(
        text.replace('[zone]\norigin = "example."\n', "[zones.example]\n\n[zones.shop]\n")
    )
    assert main(["zone", "add", "shop", "--home", str(home)]) == 0
    worker = serve_worker(load_settings(home), SystemClock(), interval=3600)
    assert [name for name, _ in worker._passes] == ["notify example.", "notify shop."]
    worker.run_round()
    assert worker.errors == []
