"""Fault tests of the cycle: killed at random instants, a verification failure, a
secondary that is down. Whatever happens, the distributed zone is a verified zone,
serials never go backwards, and the next cycle recovers by itself."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dns.name
import pytest

from tests.distribute.conftest import LoopThread
from tests.distribute.homes import Registry, audit_events, ds_for, make_home, tldsec, zone_home
from tldsec.clock import SystemClock
from tldsec.cycle import Outcome, open_cycle
from tldsec.distribute.config import LOOPBACK, NotifySettings, Secondary
from tldsec.distribute.notify import Notifier, NotifyTarget
from tldsec.distribute.server import Access, PrimaryServer
from tldsec.distribute.store import ZoneStore, serial_gt
from tldsec.settings import load_settings

pytestmark = pytest.mark.slow

CYCLES = 30


def store_of(home: Path) -> ZoneStore:
    return ZoneStore(zone_home(home).dist, "example.")


def assert_distributed_zone_is_verified(home: Path) -> int | None:
    """The store's current zone passed the gate (its report) and ldns-verify-zone."""
    store = store_of(home)
    serial = store.current()
    if serial is None:
        return None
    report = json.loads((zone_home(home).reports / f"{serial}.json").read_text())
    assert report["passed"] and report["serial"] == serial
    anchor = zone_home(home).work / "trust-anchor.ds"
    check = subprocess.run(
        ["ldns-verify-zone", "-k", str(anchor), str(store.zone_path(serial))],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    return serial


def assert_databases_consistent(home: Path) -> None:
    for name in ("registry.db", "signer.db", "audit.db"):
        with sqlite3.connect(home / name) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",), name


def test_sigkill_at_random_points_of_30_cycles(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", keystore="pkcs11", extra="[cycle]\nworkers = 1\n")
    registry = Registry(home)
    registry.seed(25)
    rng = random.Random(20240301)
    argv = [sys.executable, "-m", "tldsec.cli.main", "cycle", "--home", str(home), "--force"]
    t0 = time.monotonic()
    tldsec(*argv[3:])  # one whole cycle, to know how long one takes
    whole = time.monotonic() - t0
    last = assert_distributed_zone_is_verified(home)
    killed = completed = 0
    try:
        # At least CYCLES cycles, and on until a third of them were killed part way: how
        # many die depends on the machine's speed at the time, not on what is tested.
        i = 0
        while (i < CYCLES or killed < CYCLES // 3) and i < 3 * CYCLES:
            i += 1
            registry.add_ds(f"dom{i % 25}.example", ds_for(1000 + i))  # something to do
            process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                process.wait(rng.uniform(0.0, whole * 1.1))
                completed += 1
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed += 1
            serial = assert_distributed_zone_is_verified(home)
            assert serial is not None
            assert last is None or serial == last or serial_gt(serial, last), (last, serial)
            last = serial
    finally:
        registry.close()
    assert killed >= CYCLES // 3, (killed, completed)  # most cycles died part way
    assert_databases_consistent(home)
    # The next cycle recovers by itself, leaving no leftovers behind.
    registry = Registry(home)
    registry.attach()
    registry.add_ds("dom0.example", ds_for(5000))
    registry.close()
    out = tldsec("cycle", "--home", str(home), "--json")
    result = json.loads(out.stdout)
    assert result["outcome"] == "published", result
    assert serial_gt(result["serial"], last)  # type: ignore[arg-type]
    assert_distributed_zone_is_verified(home)
    leftovers = [p.name for p in store_of(home).directory.iterdir() if p.name.startswith(".")]
    assert leftovers == [".lock"]
    assert tldsec("cycle", "--home", str(home), "--check").stdout.strip() == "nothing to do"
    assert tldsec("audit", "verify", "--home", str(home), check=False).returncode == 0


def test_a_failing_validator_keeps_the_last_zone_and_raises_an_incident(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", extra='[verify]\nexternal = ["ldns-verify-zone"]\n')
    registry = Registry(home)
    registry.seed(10)
    registry.close()
    good = json.loads(tldsec("cycle", "--home", str(home), "--json").stdout)
    assert good["outcome"] == "published"
    # The fault: an external validator that rejects every zone.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ldns-verify-zone"
    fake.write_text("#!/bin/sh\necho 'Error: injected fault' >&2\nexit 3\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tldsec.cli.main",
            "cycle",
            "--home",
            str(home),
            "--force",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 3  # refused by verification: integrity
    refused = json.loads(out.stdout)
    assert refused["outcome"] == "refused" and refused["distributed"] == good["serial"]
    assert store_of(home).current() == good["serial"]
    assert "INCIDENT" in out.stderr
    shown = tldsec("status", "--home", str(home), "--json", check=False)
    assert shown.returncode == 3  # integrity while the incident is open (docs/operations.md)
    status = json.loads(shown.stdout)
    assert status["health"]["state"] == "integrity"
    assert status["serial"] == good["serial"]
    assert status["incident"]["serial"] == refused["serial"]
    assert status["incident"]["resolved"] is False
    assert status["incident"]["failed_checks"] == ["external:ldns-verify-zone"]
    assert status["last_verification"]["passed"] is False
    events = audit_events(home)
    assert "zone.verification_failed" in events and "cycle.failed" in events
    # The validator repaired, the next cycle publishes and the incident is behind us.
    fixed = json.loads(tldsec("cycle", "--home", str(home), "--force", "--json").stdout)
    assert fixed["outcome"] == "published" and serial_gt(fixed["serial"], refused["serial"])
    status = json.loads(tldsec("status", "--home", str(home), "--json").stdout)
    assert status["incident"]["resolved"] is True


def test_a_secondary_that_is_down_does_not_block_the_cycle(tmp_path: Path) -> None:
    loop_thread = LoopThread()
    home = make_home(tmp_path / "home", extra="[verify]\nexternal = []\n[cycle]\nworkers = 1\n")
    registry = Registry(home)
    registry.seed(10)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a secondary that is down
    silent.bind(("127.0.0.1", 0))
    settings = load_settings(home)
    clock = SystemClock()
    store = store_of(home)
    notifier = Notifier(
        dns.name.from_text("example."),
        (NotifyTarget("down", "127.0.0.1", silent.getsockname()[1]),),
        clock,
        NotifySettings(timeout=0.5, attempts=4, retry=0.5),
    )
    primary = PrimaryServer(
        store, Access((Secondary("lo", LOOPBACK),), ()), clock, notifier=notifier
    )
    loop_thread.run(primary.start("127.0.0.1", 0))

    def pushed(serial: int) -> None:  # what serve does: the primary picks up the serial
        loop_thread.loop.call_soon_threadsafe(
            lambda: loop_thread.loop.create_task(primary.refresh())
        )

    try:
        with open_cycle(settings, clock) as cycle:
            first = cycle.run(on_published=pushed)
            loop_thread.run(notifier.wait())
            registry.add_ds("dom1.example", ds_for(1))
            second = cycle.run(on_published=pushed)
        # The cycle is done; the primary takes the serial and starts its NOTIFYs...
        assert second.outcome is Outcome.PUBLISHED
        deadline = time.monotonic() + 30
        while primary.serial != second.serial and time.monotonic() < deadline:
            time.sleep(0.01)
        (state,) = notifier.states.values()
        # ...which are still being tried when the cycle has long returned.
        assert state.serial == second.serial and not state.given_up
        loop_thread.run(notifier.wait())
        assert state.given_up and state.attempts == 4 and not state.acknowledged
        assert primary.serial == second.serial and first.serial != second.serial
    finally:
        registry.close()
        silent.close()
        loop_thread.run(primary.close())
        loop_thread.stop()
