"""``tldsec serve`` as a real process records its orderly stop (DPS 4.4.1, 5.8): SIGTERM
and SIGINT each write ``system.stopped`` after that run's ``system.started``, so the
next start finds no crash; a run killed outright is a ``system.crash`` at the next start."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.distribute.homes import make_home
from tests.distribute.nameservers import free_port


def _events(home: Path) -> list[tuple[int, str, str, dict[str, object]]]:
    """(seq, event, actor, details) of every entry, read straight from the file."""
    with sqlite3.connect(home / "audit.db") as conn:
        rows = conn.execute("SELECT seq, event, actor, details FROM audit_entries ORDER BY seq")
        out = []
        for seq, event, actor, details in rows:
            parsed = json.loads(details) if isinstance(details, str) else details
            out.append((seq, event, actor, parsed))
        return out


def _serve(home: Path, log: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "tldsec.cli.main", "serve", "--home", str(home)]
    argv += ["--no-epp", "--no-cycle", "--log-format", "text"]
    argv += ["--dns-listen", f"127.0.0.1:{free_port()}"]
    argv += ["--health-listen", f"127.0.0.1:{free_port()}"]
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)


def _started(home: Path, process: subprocess.Popen[bytes], log: Path, count: int) -> None:
    """Wait for this run's ``system.started`` (the ``count``-th one in the log)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {log.read_text()[-3000:]}")
        if (home / "audit.db").exists():
            with_start = [e for e in _events(home) if e[1] == "system.started"]
            if len(with_start) >= count:
                return
        time.sleep(0.2)
    raise AssertionError(f"serve never recorded its start: {log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals, log: Path) -> None:
    process.send_signal(sig)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(
            f"serve did not stop on {sig.name}: {log.read_text()[-3000:]}"
        ) from None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_orderly_stop_is_recorded_and_the_next_start_finds_no_crash(
    tmp_path: Path, sig: signal.Signals
) -> None:
    home = make_home(tmp_path / "home")
    log = tmp_path / "serve.log"
    first = _serve(home, log)
    _started(home, first, log, 1)
    _stop(first, sig, log)
    assert first.returncode == 0, log.read_text()[-3000:]
    events = _events(home)
    (started,) = [e for e in events if e[1] == "system.started"]
    (stopped,) = [e for e in events if e[1] == "system.stopped"]
    assert stopped[0] > started[0] and stopped[2] == "component:serve"
    assert stopped[3]["pid"] == started[3]["pid"] == first.pid

    second = _serve(home, log)
    _started(home, second, log, 2)
    _stop(second, sig, log)
    events = _events(home)
    assert not [e for e in events if e[1] == "system.crash"]
    assert [e[1] for e in events if e[1].startswith("system.")] == [
        "system.started",
        "system.stopped",
        "system.started",
        "system.stopped",
    ]


def test_a_killed_serve_is_a_crash_at_the_next_start(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    log = tmp_path / "serve.log"
    first = _serve(home, log)
    _started(home, first, log, 1)
    first.kill()  # SIGKILL: no handler runs, no stop is written
    first.wait()
    assert not [e for e in _events(home) if e[1] == "system.stopped"]
    second = _serve(home, log)
    _started(home, second, log, 2)
    _stop(second, signal.SIGTERM, log)
    (crash,) = [e for e in _events(home) if e[1] == "system.crash"]
    assert crash[3]["pid"] == first.pid
    assert [e[1] for e in _events(home) if e[1].startswith("system.")] == [
        "system.started",
        "system.crash",
        "system.started",
        "system.stopped",
    ]
