"""Real name servers for tests, on loopback ports picked free: NSD as a secondary of our
primary (or as a primary of a tiny test root), Unbound as a validating resolver.

Each runs in the foreground (``-d``) from a configuration written into a temporary
directory, and is stopped (SIGTERM, then SIGKILL) when the test ends.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype

from tldsec.distribute.config import TsigKey


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (another process may still take it)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


@dataclass
class Daemon:
    """A name server process and where it listens."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    directory: Path
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def query(self, name: str, rdtype: str, *, dnssec: bool = False) -> dns.message.Message:
        q = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
        return dns.query.udp(q, "127.0.0.1", port=self.port, timeout=3)

    def serial(self, zone: str) -> int | None:
        try:
            r = self.query(zone, "SOA")
        except (OSError, dns.exception.DNSException):
            return None
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return int(rrset[0].serial)
        return None

    def wait_serial(self, zone: str, serial: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.log_text()[-3000:]}")
            if self.serial(zone) == serial:
                return
            time.sleep(0.1)
        raise AssertionError(
            f"{self.name} did not reach {zone} serial {serial} (has {self.serial(zone)}):\n"
            f"{self.log_text()[-3000:]}"
        )


def _wait_listening(daemon: Daemon, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise AssertionError(f"{daemon.name} exited at start:\n{daemon.log_text()[-3000:]}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", daemon.port), timeout=0.2),
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"{daemon.name} does not listen:\n{daemon.log_text()[-3000:]}")


def nsd_available() -> bool:
    return shutil.which("nsd") is not None


@dataclass(frozen=True)
class NsdZone:
    """One zone of an NSD instance: secondary of ``primary`` or primary from ``zonefile``."""

    name: str
    primary: tuple[str, int] | None = None
    zonefile: Path | None = None
    key: TsigKey | None = None


def start_nsd(directory: Path, zones: list[NsdZone], port: int | None = None) -> Daemon:
    """NSD in the foreground on 127.0.0.1:port (free if not given)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    lines = [
        "server:",
        f"  ip-address: 127.0.0.1@{port}",
        f"  port: {port}",
        f'  zonesdir: "{directory}"',
        f'  pidfile: "{directory}/nsd.pid"',
        f'  xfrdfile: "{directory}/xfrd.state"',
        f'  zonelistfile: "{directory}/zone.list"',
        f'  logfile: "{directory}/nsd.log"',
        '  database: ""',
        '  username: ""',
        '  chroot: ""',
        "  verbosity: 2",
        "  server-count: 1",
        "  tcp-count: 10",
        "  xfrd-reload-timeout: 0",
        "  zonefiles-write: 0",
        "remote-control:",
        "  control-enable: no",
    ]
    keys = {z.key.name: z.key for z in zones if z.key is not None}
    for key in keys.values():
        lines += [
            "key:",
            f"  name: {key.name}",
            f"  algorithm: {key.algorithm}",
            f'  secret: "{key.secret_b64}"',
        ]
    for z in zones:
        lines += ["zone:", f"  name: {z.name}"]
        if z.primary is not None:
            host, primary_port = z.primary
            key = z.key.name if z.key else "NOKEY"
            lines += [
                f'  zonefile: "{z.name.rstrip(".") or "root"}.secondary"',
                f"  request-xfr: {host}@{primary_port} {key}",
                f"  allow-notify: {host} {key}",
                "  allow-axfr-fallback: yes",
            ]
        else:
            assert z.zonefile is not None
            lines += [f'  zonefile: "{z.zonefile}"']
    conf = directory / "nsd.conf"
    conf.write_text("\n".join(lines) + "\n")
    check = subprocess.run(["nsd-checkconf", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout
    with open(directory / "nsd.stderr", "wb") as stderr:
        process = subprocess.Popen(
            ["nsd", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=stderr
        )
    daemon = Daemon("nsd", process, port, directory, directory / "nsd.log")
    _wait_listening(daemon)
    return daemon


@contextlib.contextmanager
def running_nsd(directory: Path, zones: list[NsdZone], port: int | None = None) -> Iterator[Daemon]:
    daemon = start_nsd(directory, zones, port)
    try:
        yield daemon
    finally:
        daemon.stop()


def start_unbound(
    directory: Path, trust_anchor: str, stubs: dict[str, int], extra: Sequence[str] = ()
) -> Daemon:
    """Unbound in the foreground, validating with ``trust_anchor`` (a DS or DNSKEY line
    for the test root) and asking the loopback name servers in ``stubs`` (zone -> port);
    ``extra``: more ``server:`` lines (e.g. ``val-override-date`` for a fake clock)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (directory / "root.key").write_text(trust_anchor + "\n")
    lines = [
        "server:",
        "  interface: 127.0.0.1",
        f"  port: {port}",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{directory}"',
        f'  logfile: "{directory}/unbound.log"',
        '  pidfile: ""',
        "  use-syslog: no",
        "  verbosity: 1",
        "  do-not-query-localhost: no",
        "  access-control: 127.0.0.0/8 allow",
        f'  trust-anchor-file: "{directory}/root.key"',
        "  val-log-level: 2",
        "  num-threads: 1",
        "  so-reuseport: no",
        "  harden-referral-path: no",
        "  qname-minimisation: no",
        "  aggressive-nsec: no",
        '  target-fetch-policy: "0 0 0 0 0"',
        *(f"  {line}" for line in extra),
        "remote-control:",
        "  control-enable: no",
    ]
    for zone, zport in stubs.items():
        lines += ["stub-zone:", f'  name: "{zone}"', f"  stub-addr: 127.0.0.1@{zport}"]
    conf = directory / "unbound.conf"
    conf.write_text("\n".join(lines) + "\n")
    check = subprocess.run(["unbound-checkconf", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout
    with open(directory / "unbound.stderr", "wb") as stderr:
        process = subprocess.Popen(
            ["unbound", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=stderr
        )
    daemon = Daemon("unbound", process, port, directory, directory / "unbound.log")
    _wait_listening(daemon)
    return daemon
