"""Issue 20 items 1 and 2 with real processes: ``serve --role primary`` and ``serve
--role signer`` in two homes; the signer listens on no network socket, holds the
publication lease, pushes each verified zone over pinned TLS, and the primary serves
it by AXFR (decision 49)."""

from __future__ import annotations

import dataclasses
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.distribute.homes import make_home, zone_home
from tests.distribute.nameservers import free_port
from tests.service.running import Serve, secondary_config
from tldsec.distribute.push import client_context, offer_for, push_once
from tldsec.distribute.pushcert import PushIdentity, fingerprint, new_certificate
from tldsec.distribute.pushconfig import PushPeer
from tldsec.distribute.store import ZoneStore
from tldsec.errors import PushRefused

EX = {"zone": "example."}  # the lease gauges' label: one lease per zone (decision 67)


def identities(directory: Path) -> tuple[PushIdentity, PushIdentity]:
    now = datetime.now(UTC)
    return new_certificate("site-a", directory, now), new_certificate("primary-1", directory, now)


def primary_push(me: PushIdentity, signer: PushIdentity, port: int) -> str:
    return f"""
[push]
cert = "{me.cert}"
key = "{me.key}"
listen = "127.0.0.1:{port}"
timeout_seconds = 10

[[push.signers]]
name = "site-a"
cert = "{signer.cert}"
sha256 = "{fingerprint(signer.cert)}"
"""


def signer_push(me: PushIdentity, primary: PushIdentity, port: int, lease: str = "") -> str:
    return f"""
[cycle]
check_seconds = 0.3
workers = 1

[serve]
audit_watch_seconds = 0.5

[push]
cert = "{me.cert}"
key = "{me.key}"
timeout_seconds = 10
retry_seconds = 0.2

[[push.primaries]]
name = "primary-1"
address = "127.0.0.1:{port}"
cert = "{primary.cert}"
sha256 = "{fingerprint(primary.cert)}"

[lease]
ttl_seconds = 6
renew_seconds = 1
margin_seconds = 2
{lease}
"""


class Signer:
    """``tldsec serve --role signer``: no HTTP, so it is watched through its log, its
    metrics file and the primary it pushes to."""

    def __init__(self, home: Path, log: Path) -> None:
        self.home, self.log = home, log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tldsec.cli.main", "serve", "--home", str(home),
                 "--role", "signer", "--log-format", "text"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def wait(self, ready: Callable[[], bool], what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the signer exited waiting for {what}: {self.log_text()}")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}: {self.log_text()[-4000:]}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        text = (self.home / "run" / "metrics" / "tldsec.prom").read_text()
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        return samples

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.returncode == 0, self.log_text()[-4000:]


def listening_sockets(pid: int) -> list[str]:
    """The TCP sockets in LISTEN and the unconnected UDP sockets ``pid`` holds, by
    /proc (what ``ss -ltnup`` shows for it)."""
    mine = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[len("socket:[") : -1])
    found = []
    for table, state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        path = Path("/proc/net") / table
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == state and fields[9] in mine:
                found.append(f"{table} {fields[1]}")
    return found


def ss_listening(pid: int) -> set[str]:
    """What ``ss -ltnup`` lists for ``pid``: protocol and local address."""
    ss = subprocess.run(["ss", "-ltnup"], capture_output=True, text=True, check=True)
    return {
        f"{line.split()[0]} {line.split()[4]}"
        for line in ss.stdout.splitlines()
        if f"pid={pid}," in line
    }


def test_a_split_signer_pushes_to_its_primary_and_listens_on_nothing(tmp_path: Path) -> None:
    signer_id, primary_id = identities(tmp_path / "certs")
    push_port = free_port()
    primary_home = make_home(
        tmp_path / "primary",
        extra=secondary_config() + primary_push(primary_id, signer_id, push_port),
    )
    signer_home = make_home(
        tmp_path / "signer", extra=signer_push(signer_id, primary_id, push_port)
    )
    primary = Serve.start(primary_home, tmp_path / "primary.log", "--role", "primary", serial=False)
    signer: Signer | None = None
    try:
        status, report = primary.health()
        assert status == 503 and "the primary serves no zone yet" in report["faults"]
        assert report["roles"] == ["primary"] and report["push_listen"][1] == push_port
        signer = Signer(signer_home, tmp_path / "signer.log")
        primary.wait(lambda: primary.health()[1].get("serial") is not None, "the first push")
        store = zone_home(signer_home).dist
        published = int((store / "current").read_text())
        assert primary.axfr_serial() == published
        primary.wait(lambda: primary.health()[0] == 200, "the primary's /health 200")

        # The signer listens on nothing: no TCP listener, no UDP socket bound to wait
        # (a listener stays; a query's client socket, such as the trace's SOA question
        # to the secondaries, is gone by the next look).
        seen = set(listening_sockets(signer.process.pid))
        by_ss = ss_listening(signer.process.pid)
        for _ in range(3):
            time.sleep(0.5)
            seen &= set(listening_sockets(signer.process.pid))
            by_ss &= ss_listening(signer.process.pid)
        assert seen == set() and by_ss == set()
        assert ss_listening(primary.process.pid)  # the check does see a listener

        signer.wait(lambda: "tldsec_lease_token" in signer.metrics(), "the metrics file")
        samples = signer.metrics()
        assert samples["tldsec_lease_held"] == [(EX, 1.0)]
        assert samples["tldsec_lease_token"] == [(EX, 1.0)]
        holder = samples["tldsec_lease_holder_info"][0][0]["holder"]
        assert holder.endswith(str(signer_home))

        # A cycle asked for (SIGHUP: the signer has no HTTP) publishes a new serial,
        # and the signer pushes it on.
        signer.process.send_signal(signal.SIGHUP)
        primary.wait(lambda: primary.axfr_serial() > published, "the next push")
        assert primary.axfr_serial() == int((store / "current").read_text())
        assert "installed and served" in primary.log.read_text()
        # The cycle patched the zone from the serial the primary serves: only the
        # edits travelled, and the primary rebuilt the file (decision 54).
        assert "(pushed the difference, token 1)" in signer.log_text()
        assert "(rebuilt from the difference)" in primary.log.read_text()
    finally:
        if signer is not None:
            signer.stop()
        primary.stop()
    # The lease was given up at the clean stop: another signer may take it at once.
    with sqlite3.connect(signer_home / "registry.db") as db:
        holder, token, expires = db.execute(
            "SELECT holder, token, expires_ms FROM publication_lease"
        ).fetchone()
    assert holder.endswith(str(signer_home)) and token == 1
    assert expires < time.time() * 1000


def test_two_signers_on_one_database_only_the_lease_holder_publishes(
    tmp_path: Path, postgres_url: str
) -> None:
    """Signers A and B share the registry database on PostgreSQL. A holds the lease and
    publishes; B waits. A is paused (SIGSTOP: a frozen VM); its lease expires on the
    database's clock and B takes it with a higher token and publishes a newer serial.
    A wakes without the lease: it runs no cycle, pushes nothing, says so; and the push
    A would have sent late (its certificate, its zone, its token) is refused."""
    certs = tmp_path / "certs"
    now = datetime.now(UTC)
    site_a, site_b = new_certificate("site-a", certs, now), new_certificate("site-b", certs, now)
    primary_id = new_certificate("primary-1", certs, now)
    push_port = free_port()
    both = (
        primary_push(primary_id, site_a, push_port)
        + f"""
[[push.signers]]
name = "site-b"
cert = "{site_b.cert}"
sha256 = "{fingerprint(site_b.cert)}"
"""
    )
    primary_home = make_home(tmp_path / "primary", extra=secondary_config() + both)
    database = f'\n[database]\nregistry_url = "{postgres_url}"\n'
    home_a = make_home(
        tmp_path / "a",
        extra=signer_push(site_a, primary_id, push_port, 'name = "site-a"') + database,
    )
    home_b = make_home(
        tmp_path / "b",
        extra=signer_push(site_b, primary_id, push_port, 'name = "site-b"') + database,
    )
    primary = Serve.start(primary_home, tmp_path / "primary.log", "--role", "primary", serial=False)
    a = b = None
    try:
        a = Signer(home_a, tmp_path / "a.log")
        primary.wait(lambda: primary.health()[1].get("serial") is not None, "A's first push")
        serial_a = primary.axfr_serial()
        assert serial_a == int((zone_home(home_a).dist / "current").read_text())

        b = Signer(home_b, tmp_path / "b.log")
        b.wait(lambda: "tldsec_lease_token" in b.metrics(), "B's metrics file")
        b.wait(lambda: "does not hold the publication lease" in b.log_text(), "B waiting")
        b.process.send_signal(signal.SIGHUP)  # asked for a cycle, B still waits
        time.sleep(1)
        samples = b.metrics()
        assert samples["tldsec_lease_held"] == [(EX, 0.0)]
        assert samples["tldsec_lease_holder_info"][0][0]["holder"] == "site-a"
        assert samples["tldsec_health_ok"] == [({}, 1.0)]  # a standby is not a fault
        assert not (zone_home(home_b).dist / "current").exists()
        assert primary.axfr_serial() == serial_a

        a.process.send_signal(signal.SIGSTOP)  # A freezes: no renewal from now on
        b.wait(lambda: b.metrics()["tldsec_lease_held"] == [(EX, 1.0)], "B takes the lease")
        assert b.metrics()["tldsec_lease_token"] == [(EX, 2.0)]
        primary.wait(lambda: primary.axfr_serial() > serial_a, "B's push")
        serial_b = primary.axfr_serial()
        assert serial_b == int((zone_home(home_b).dist / "current").read_text())
        fence = json.loads((zone_home(primary_home).dist / "push-fence.json").read_text())
        assert fence == {"token": 2, "signer": "site-b", "serial": serial_b}

        a.process.send_signal(signal.SIGCONT)  # A wakes up past its deadline
        a.wait(lambda: "another signer holds it now" in a.log_text(), "A seeing B hold it")
        a.wait(lambda: a.metrics()["tldsec_lease_held"] == [(EX, 0.0)], "A's metrics")
        a.wait(lambda: a.metrics()["tldsec_health_ok"] == [({}, 0.0)], "A's fault")
        a.process.send_signal(signal.SIGHUP)
        a.wait(lambda: "waits: this signer does not hold" in a.log_text(), "A held back")
        assert primary.axfr_serial() == serial_b

        # The push A would send had it woken in the middle of one: refused by token.
        store_a = ZoneStore(zone_home(home_a).dist, "example.")
        target = PushPeer(
            "primary-1", primary_id.cert, fingerprint(primary_id.cert), ("127.0.0.1", push_port)
        )
        late = dataclasses.replace(offer_for(store_a, serial_a, 1), serial=serial_b + 1)
        ctx = client_context(site_a.cert, site_a.key, target)
        with pytest.raises(PushRefused, match="fencing token 1 is older than token 2"):
            push_once(target, ctx, late, store_a.zone_path(serial_a), 10)
        assert primary.axfr_serial() == serial_b
        assert "has lost the publication lease" in primary.log.read_text()
    finally:
        for signer in (a, b):
            if signer is not None:
                signer.process.send_signal(signal.SIGCONT)
                signer.stop()
        primary.stop()
