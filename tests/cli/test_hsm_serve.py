"""The Security Officer activates ``tldsec serve`` (DPS 4.2.4, 5.2.8, 5.2.9, 5.4, 5.5), on
a ``dps`` home with a real SoftHSM2 token: the home stores no PIN; serve starts locked
and keeps serving the last good zone; a wrong PIN is one clear line, audited, and
changes nothing; the right one lets cycles sign; deactivation locks it again. Read-only
commands work throughout without the HSM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.distribute.homes import ORIGIN, tldsec, zone_home
from tests.distribute.nameservers import free_port
from tests.fixtures.dps_backup import back_up_first_keys
from tldsec.clock import SystemClock
from tldsec.distribute.config import load_distribute_settings
from tldsec.service.supervisor import Service as Registry
from tldsec.settings import CONFIG_NAME, load_settings

PIN = "so-chosen-pin-4711"
SO_PIN = "so-officer-pin-0815"


@dataclass
class Officer:
    """The Security Officer's own files, outside the home."""

    pin: Path
    so_pin: Path
    wrong: Path


@pytest.fixture(scope="module")
def officer(tmp_path_factory: pytest.TempPathFactory) -> Officer:
    folder = tmp_path_factory.mktemp("officer")
    folder.chmod(0o700)
    files = []
    for name, value in (("pin", PIN), ("so-pin", SO_PIN), ("wrong", "not-the-pin-1")):
        path = folder / name
        path.write_text(value + "\n")
        path.chmod(0o600)
        files.append(path)
    return Officer(*files)


def make_dps_home(home: Path, officer: Officer) -> Path:
    out = tldsec(
        "init", "--home", str(home), "--origin", ORIGIN, "--policy", "dps",
        "--pin-file", str(officer.pin), "--so-pin-file", str(officer.so_pin),
    )  # fmt: skip
    assert "policy dps" in out.stdout
    with open(home / CONFIG_NAME, "a", encoding="utf-8") as f:
        f.write("\n[cycle]\ncheck_seconds = 0.3\nworkers = 1\n[verify]\nexternal = []\n")
    tldsec("db", "upgrade", "--home", str(home))
    # DPS 5.2.4: under the dps policy the first keys sign only once a checked archive
    # under the SMK holds them; init says so.
    assert "wait for a backup" in out.stdout
    back_up_first_keys(home, officer.pin, officer.so_pin, home.parent / "smk-holders")
    return home


def test_a_dps_home_stores_no_pin(tmp_path: Path, officer: Officer) -> None:
    home = make_dps_home(tmp_path / "home", officer)
    assert not (home / "pin").exists() and not (home / "so-pin").exists()
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert PIN.encode() not in data and SO_PIN.encode() not in data, path
    settings = load_settings(home)
    assert settings.policy.name == "dps"
    assert settings.keystore.pin_source == "security-officer"
    # a command that needs the HSM, with no terminal and no --pin-file: one clear line
    out = tldsec("cycle", "--home", str(home), check=False)
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0
    assert "locked" in out.stderr and "Security Officer" in out.stderr
    # the SO's PIN file must not live in the home
    inside = home / "officer-pin"
    inside.write_text(PIN)
    inside.chmod(0o600)
    out = tldsec("cycle", "--home", str(home), "--pin-file", str(inside), check=False)
    assert out.returncode == 1 and "inside the home" in out.stderr


@dataclass
class Serve:
    home: Path
    process: subprocess.Popen[bytes]
    log: Path
    health_port: int
    dns_port: int

    def health(self) -> tuple[int, dict[str, object]]:
        url = f"http://127.0.0.1:{self.health_port}/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, dict(json.loads(r.read()))
        except urllib.error.HTTPError as exc:
            return exc.code, dict(json.loads(exc.read()))

    def post_cycle(self) -> None:
        token = (self.home / "control-token").read_text().strip()  # POST needs it (issue 22)
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.health_port}/cycle",
            method="POST",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=5) as r:
            assert r.status == 202

    def wait(self, ready: Callable[[], bool], what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited waiting for {what}: {self.log.read_text()}")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}: {self.log.read_text()[-3000:]}")


@pytest.fixture
def serving(tmp_path: Path, officer: Officer) -> Iterator[Serve]:
    home = make_dps_home(tmp_path / "home", officer)
    # the last good zone, signed by the officer at a terminal before serve starts
    tldsec("cycle", "--home", str(home), "--pin-file", str(officer.pin))
    health_port, dns_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tldsec.cli.main",
                "serve",
                "--home",
                str(home),
                "--no-epp",
                "--log-format",
                "text",
                "--dns-listen",
                f"127.0.0.1:{dns_port}",
                "--health-listen",
                f"127.0.0.1:{health_port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    serve = Serve(home, process, log, health_port, dns_port)
    try:
        serve.wait(lambda: serve.health()[1].get("serial") is not None, "serve")
        yield serve
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.returncode == 0, log.read_text()[-3000:]


def audit_events(home: Path, event: str) -> list[str]:
    """The lines of ``tldsec audit show`` for entries of this event type."""
    out = tldsec("audit", "show", "--home", str(home), "--event", event)
    return [line for line in out.stdout.splitlines() if f" {event} " in line]


def test_serve_starts_locked_and_the_officer_activates_and_deactivates_it(
    serving: Serve, officer: Officer
) -> None:
    home = str(serving.home)
    first_serial = (zone_home(serving.home).dist / "current").read_text().strip()

    # locked: the last good zone is served, health is not 200, status says so
    code, health = serving.health()
    assert code == 503
    assert health["hsm"]["state"] == "locked"  # type: ignore[index]
    assert str(health["serial"]) == first_serial
    status = tldsec("status", "--home", home, check=False)
    assert status.returncode == 4  # waiting for the officer (docs/operations.md)
    assert "HSM             LOCKED" in status.stdout
    assert tldsec("keys", "list", "--home", home).returncode == 0
    assert tldsec("hsm", "status", "--home", home).stdout.startswith("locked")

    # a cycle asked for while locked waits for the officer
    serving.post_cycle()
    serving.wait(lambda: "waits: the HSM is locked" in serving.log.read_text(), "the hold")

    # a wrong PIN: one line, audited with who tried, still locked
    wrong = tldsec("hsm", "activate", "--home", home, "--pin-file", str(officer.wrong), check=False)
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (
        "tldsec: error: wrong PIN for token 'tldsec'; the HSM stays locked"
    )
    (failed,) = audit_events(serving.home, "access.login_failed")
    assert "wrong PIN" in failed and '"uid"' in failed
    assert serving.health()[1]["hsm"]["state"] == "locked"  # type: ignore[index]

    # where the home requires a ceremony for it (DPS 4.2.2), activation without one is
    # refused before any PIN is sent, and the HSM stays locked
    config = serving.home / CONFIG_NAME
    original = config.read_text()
    config.write_text(original + '\n[ceremony]\nrequired = ["hsm.activate"]\n')
    gated = tldsec("hsm", "activate", "--home", home, "--pin-file", str(officer.pin), check=False)
    config.write_text(original)
    assert gated.returncode != 0 and "hsm.activate runs only under a key ceremony" in gated.stderr
    assert serving.health()[1]["hsm"]["state"] == "locked"  # type: ignore[index]

    # the right PIN: active, and the cycle that waited signs a new serial
    right = tldsec("hsm", "activate", "--home", home, "--pin-file", str(officer.pin))
    assert right.stdout.startswith("HSM activated: active")
    assert len(audit_events(serving.home, "hsm.activated")) == 1
    serving.post_cycle()
    serving.wait(
        lambda: str(serving.health()[1]["serial"]) != first_serial,
        "a cycle signed after activation",
    )
    serving.wait(lambda: serving.health()[0] == 200, "health 200")

    # deactivation: locked again, audited; the zone stays served
    off = tldsec("hsm", "deactivate", "--home", home)
    assert off.stdout.startswith("HSM deactivated: locked")
    code, health = serving.health()
    assert code == 503 and health["hsm"]["state"] == "locked"  # type: ignore[index]
    assert health["serial"] is not None
    assert len(audit_events(serving.home, "hsm.deactivated")) == 1
    assert (serving.home / "run/hsm.sock").stat().st_mode & 0o777 == 0o600
    assert (serving.home / "run").stat().st_mode & 0o777 == 0o700


def test_the_cycle_process_gets_the_pin_through_a_pipe_only(
    tmp_path: Path, officer: Officer
) -> None:
    home = make_dps_home(tmp_path / "home", officer)
    settings = load_settings(home)
    # stands in for 'tldsec cycle': reports what it was given
    child = [
        sys.executable,
        "-c",
        "import json, os, sys; print(json.dumps({'outcome': 'unchanged', 'argv': sys.argv, "
        "'env': dict(os.environ), 'stdin': sys.stdin.readline()}))",
    ]
    registry = Registry(settings, SystemClock(), load_distribute_settings(settings), child)
    assert registry.activation is not None
    registry.activation.activate({"keystore": PIN}, now=SystemClock().now(), by="person:so")
    try:
        result = asyncio.run(registry._run_cycle(False))
    finally:
        registry.activation.deactivate(now=SystemClock().now(), by="person:so")
    assert result is not None
    assert json.loads(result["stdin"]) == {"keystore": PIN}
    assert "--pin-stdin" in result["argv"]
    assert not any(PIN in a for a in result["argv"])
    assert not any(PIN in v for v in result["env"].values())
    assert PIN not in os.environ.values()


def test_verify_asks_for_the_officers_pin_only_to_open_the_hsm(
    tmp_path: Path, officer: Officer
) -> None:
    home = make_dps_home(tmp_path / "home", officer)
    tldsec("cycle", "--home", str(home), "--pin-file", str(officer.pin))
    serial = (zone_home(home).dist / "current").read_text().strip()
    args = ("verify", str(zone_home(home).dist / f"{serial}.zone"), "--home", str(home),
            "--trust-anchor", str(zone_home(home).work / "trust-anchor.ds"))  # fmt: skip
    locked = tldsec(*args, check=False)
    assert locked.returncode != 0 and "locked" in locked.stderr
    assert tldsec(*args, "--no-keystore").returncode == 0  # the checks without the HSM
    assert tldsec(*args, "--pin-file", str(officer.pin)).returncode == 0
