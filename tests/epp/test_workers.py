"""``tldsec epp serve --processes 2``: real worker processes on one port, real TLS.

The session limit and the failed-login limit hold across processes, a registrar's
commands work whichever process serves its connection, connections are spread evenly, a
killed worker is replaced and its slots released, and SIGTERM stops everything. The
tests find which worker holds a connection in ``/proc`` and connect again until they
have the spread they need.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tldsec.epp.client import EppClient
from tldsec.epp.tls import client_context
from tldsec.epp.tlscert import make_self_signed
from tldsec.registry.ds_rules import DsData

TLDSEC = Path(sys.executable).parent / "tldsec"
PASSWORD = "first-pw-1"
LIMIT = 3


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@dataclass
class MultiServer:
    home: Path
    process: subprocess.Popen[str]
    port: int
    clients: list[EppClient] = field(default_factory=list)

    @property
    def workers(self) -> list[int]:
        return sorted(_children(self.process.pid))

    def worker_of(self, client: EppClient) -> int:
        """The pid of the worker holding the server end of ``client``'s connection."""
        sock = client._sock
        assert sock is not None
        local_port = sock.getsockname()[1]
        # The server end: local address is the EPP port, remote port is the client's.
        inode = None
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            parts = line.split()
            lport = int(parts[1].split(":")[1], 16)
            rport = int(parts[2].split(":")[1], 16)
            if lport == self.port and rport == local_port:
                inode = parts[9]
        assert inode is not None, "connection not found in /proc/net/tcp"
        deadline = time.monotonic() + 10  # the supervisor may still be handing it over
        while time.monotonic() < deadline:
            for pid in self.workers:
                if inode in _socket_inodes(pid):
                    return pid
            time.sleep(0.01)
        raise AssertionError("no worker holds the connection")

    def connect(self) -> EppClient:
        client = EppClient("127.0.0.1", self.port, client_context(self.home / "epp-cert.pem"))
        client.connect()
        self.clients.append(client)
        return client

    def connect_to(self, pid: int, timeout: float = 60.0) -> EppClient:
        """A connection served by worker ``pid``. A connection that lands elsewhere is
        kept open (not logged in), so the supervisor, which hands each connection to the
        worker with the fewest, sends the next one to another worker."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            client = self.connect()
            if self.worker_of(client) == pid:
                return client
            time.sleep(0.02)
        raise AssertionError(f"worker {pid} was handed no connection in {timeout} s")

    def logged_in_on(self, pid: int) -> EppClient:
        client = self.connect_to(pid)
        response = client.login("alpha", PASSWORD)
        assert response.code == 1000, response.message
        return client


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def multi(tmp_path: Path) -> Iterator[MultiServer]:
    # connect_to keeps the connections it does not want open, not logged in
    yield from _multi(tmp_path, "unauthenticated_per_address = 1000\n")


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[MultiServer]:
    """Two workers, at most 3 connections not logged in per address (issue 18)."""
    yield from _multi(tmp_path, "unauthenticated_per_address = 3\n")


def _multi(tmp_path: Path, epp_settings: str) -> Iterator[MultiServer]:
    home = tmp_path / "home"
    home.mkdir()
    (home / "tldsec.toml").write_text(
        f'[zone]\norigin = "example."\n[epp]\nsessions_per_registrar = {LIMIT}\n'
        + epp_settings
        + '[audit]\nkey_backend = "file"\n'  # no HSM in this home
    )
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    make_self_signed(home / "epp-cert.pem", home / "epp-key.pem", "localhost")
    for argv in (
        ["db", "upgrade", "--create"],
        ["registrar", "add", "alpha", "--password-file", str(tmp_path / "pw")],
    ):
        subprocess.run([str(TLDSEC), *argv, "--home", str(home)], check=True, capture_output=True)
    process = subprocess.Popen(
        [
            str(TLDSEC),
            "epp",
            "serve",
            "--home",
            str(home),
            "--listen",
            "127.0.0.1:0",
            "--processes",
            "2",
            "--no-audit",  # this home has no HSM token for the audit log's checkpoints
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("EPP server listening on 127.0.0.1:"), line
        server = MultiServer(home, process, int(line.rsplit(":", 1)[1]))
        assert len(server.workers) == 2
        yield server
        for client in server.clients:
            client.close()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_session_limit_holds_across_processes(multi: MultiServer) -> None:
    first, second = multi.workers
    held = [multi.logged_in_on(first), multi.logged_in_on(second), multi.logged_in_on(first)]
    # The limit is reached with sessions on both workers: a fourth login is refused
    # whichever worker answers it (a per-process count would let worker 2 accept).
    for pid in (first, second):
        extra = multi.connect_to(pid)
        assert extra.login("alpha", PASSWORD).code == 2502
    # A logout on one worker frees a slot for a login on the other.
    assert held[1].logout().code == 1500
    again = multi.connect_to(first)
    assert again.login("alpha", PASSWORD).code == 1000


def test_the_cap_on_connections_not_logged_in_holds_across_processes(
    capped: MultiServer,
) -> None:
    """Three connections that never log in, spread over both workers: a fourth from that
    address is closed (per-process caps alone would let each worker take three)."""
    held = [capped.connect() for _ in range(3)]
    assert len({capped.worker_of(c) for c in held}) == 2
    with pytest.raises((ConnectionError, OSError)):
        capped.connect()
    other = EppClient(
        "127.0.0.1",
        capped.port,
        client_context(capped.home / "epp-cert.pem"),
        source="127.0.0.2",
    )
    other.connect()  # another address is not affected
    other.close()
    # A login frees its place; so does a closed connection. The worker tells the
    # supervisor after the fact, so each is awaited (bounded), not assumed at once.
    assert held[0].login("alpha", PASSWORD).code == 1000
    _connect_within(capped, "a logged-in connection still counts").close()
    held[1].close()
    _connect_within(capped, "a closed connection still counts")


def _connect_within(server: MultiServer, failure: str, seconds: float = 10) -> EppClient:
    deadline = time.monotonic() + seconds  # a liveness bound, not a speed assertion
    while True:
        try:
            return server.connect()
        except (ConnectionError, OSError):
            assert time.monotonic() < deadline, failure
            time.sleep(0.1)


def test_connections_go_to_the_least_busy_worker(multi: MultiServer) -> None:
    clients = [multi.connect() for _ in range(6)]
    owners = [multi.worker_of(c) for c in clients]
    assert sorted(owners.count(pid) for pid in multi.workers) == [3, 3]
    # Ending connections counts down: with two of the second worker's six closed, new
    # connections go to it (without the count-down the tie would go to the first).
    second = multi.workers[1]
    for client in [c for c, pid in zip(clients, owners, strict=True) if pid == second][:2]:
        client.close()
    _wait_for(lambda: _next_goes_to(multi, second), "a new connection on the emptier worker")


def _next_goes_to(multi: MultiServer, pid: int) -> bool:
    client = multi.connect()
    owner = multi.worker_of(client)
    client.close()
    return owner == pid


def test_a_registrars_commands_work_whichever_process_accepts_it(multi: MultiServer) -> None:
    first, second = multi.workers
    on_first, on_second = multi.logged_in_on(first), multi.logged_in_on(second)
    ds = DsData.of(12345, 13, 2, "AB" * 32)
    assert on_first.domain_create("multi.example").code == 1000
    assert on_second.domain_update_ds("multi.example", add=(ds,)).code == 1000
    info = on_first.domain_info("multi.example")
    assert info.code == 1000
    assert info.text("epp:response/epp:resData/domain:infData/domain:name") == "multi.example"
    tags = [e.text for e in info.findall(".//secDNS:dsData/secDNS:keyTag")]
    assert tags == ["12345"]
    assert on_first.domain_update_ds("multi.example", remove=(ds,)).code == 1000
    assert not on_second.domain_info("multi.example").findall(".//secDNS:dsData")


def test_failed_logins_are_limited_across_processes(multi: MultiServer) -> None:
    first, second = multi.workers
    # Five failures within the window, on both workers (two per connection: the
    # third in one session would close it).
    for pid, failures in ((first, 2), (second, 2), (first, 1)):
        client = multi.connect_to(pid)
        for _ in range(failures):
            assert client.login("alpha", "wrong-password").code == 2200
    # Now the right password is refused too, on either worker.
    for pid in (first, second):
        client = multi.connect_to(pid)
        assert client.login("alpha", PASSWORD).code == 2501


def test_a_killed_worker_is_replaced_and_its_slots_released(multi: MultiServer) -> None:
    first, second = multi.workers
    for pid in (first, first, second):
        multi.logged_in_on(pid)
    os.kill(first, signal.SIGKILL)
    seen: list[int] = []

    def replaced() -> bool:
        # One snapshot per look: the list is read from the server each time.
        seen[:] = multi.workers
        return len(seen) == 2 and first not in seen and second in seen

    _wait_for(replaced, "a new worker")
    replacement = next(pid for pid in seen if pid != second)
    # The killed worker's two slots are free again: two logins succeed, a third does not.
    for pid in (replacement, second):
        multi.logged_in_on(pid)
    assert multi.connect_to(replacement).login("alpha", PASSWORD).code == 2502


def test_sigterm_stops_every_process(multi: MultiServer) -> None:
    workers = multi.workers
    session = multi.logged_in_on(workers[0])
    multi.process.send_signal(signal.SIGTERM)
    assert multi.process.wait(timeout=30) == 0
    for pid in workers:
        _wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists(), f"worker {pid} to exit")
    with pytest.raises(ConnectionError):
        session.domain_info("gone.example")
    with pytest.raises(OSError):
        multi.connect()
