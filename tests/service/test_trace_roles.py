"""The trace's live pass runs in the primary role, not the signer's (decision 54, DPS
5.6: the signer initiates only transfers to distribution). A signer and a primary in
two homes share the registry database; a fake secondary answers SOA queries and, before
it answers each one, finds which process holds the socket the query came from (by
/proc). Every SOA query comes from the primary, and the secondary's served serial is
recorded in the registry database where ``tldsec trace`` and the console read it."""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.flags
import dns.message
import dns.opcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from tests.distribute.homes import make_home, zone_home
from tests.distribute.nameservers import free_port
from tests.service.running import KEY_NAME, KEY_SECRET, Serve
from tests.service.test_roles import Signer, identities, primary_push, signer_push


def socket_owner(port: int) -> int | None:
    """The pid holding the UDP socket bound to 127.0.0.1:``port``, by /proc."""
    inodes = set()
    for table in ("udp", "udp6"):
        for line in (Path("/proc/net") / table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return int(proc.name)
    return None


class FakeSecondary:
    """A UDP name server that answers NOTIFY and SOA (the serial of ``current``) and
    records, for each SOA query, the pid of the process that sent it."""

    def __init__(self, current: Path) -> None:
        self.current = current
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.askers: list[int | None] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                return
            query = dns.message.from_wire(data, ignore_trailing=True, keyring=False)
            response = dns.message.make_response(query)
            if query.opcode() == dns.opcode.QUERY and query.question[0].rdtype == dns.rdatatype.SOA:
                # The asker's socket is open until its answer arrives: find its owner first.
                self.askers.append(socket_owner(peer[1]))
                if not self.current.exists():
                    continue  # nothing to answer yet
                response.flags |= dns.flags.AA
                serial = int(self.current.read_text())
                response.answer.append(
                    dns.rrset.from_text(
                        "example.", 3600, dns.rdataclass.IN, dns.rdatatype.SOA,
                        f"a.nic. hostmaster.nic. {serial} 1800 900 1209600 3600",
                    )
                )  # fmt: skip
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


def distribute(port: int) -> str:
    return f"""
[distribute]
poll_seconds = 0.2
notify_retry_seconds = 0.5

[[distribute.secondaries]]
name = "ns-fake"
allow = ["127.0.0.1"]
notify = ["127.0.0.1:{port}"]
tsig_key = "{KEY_NAME}"

[distribute.tsig_keys."{KEY_NAME}"]
secret = "{KEY_SECRET}"
"""


@contextmanager
def fake_secondary(current: Path) -> Iterator[FakeSecondary]:
    fake = FakeSecondary(current)
    try:
        yield fake
    finally:
        fake.close()


def test_the_primary_asks_the_secondaries_and_the_signer_asks_nobody(tmp_path: Path) -> None:
    signer_id, primary_id = identities(tmp_path / "certs")
    push_port = free_port()
    primary_store = zone_home(tmp_path / "primary").dist
    with fake_secondary(primary_store / "current") as fake:
        signer_home = make_home(
            tmp_path / "signer",
            extra=distribute(fake.port) + signer_push(signer_id, primary_id, push_port),
        )
        shared = f'[database]\nregistry_url = "sqlite:///{signer_home / "registry.db"}"\n'
        primary_home = make_home(
            tmp_path / "primary",
            extra=distribute(fake.port) + primary_push(primary_id, signer_id, push_port) + shared,
        )
        primary = Serve.start(
            primary_home, tmp_path / "primary.log", "--role", "primary", serial=False
        )
        signer: Signer | None = None
        try:
            signer = Signer(signer_home, tmp_path / "signer.log")
            primary.wait(lambda: primary.health()[1].get("serial") is not None, "the push")
            serial = int((primary_store / "current").read_text())

            def live() -> bool:
                with sqlite3.connect(signer_home / "registry.db") as db:
                    rows = db.execute(
                        "SELECT stage, node FROM serial_trace WHERE serial = ? "
                        "AND stage IN ('served', 'live')",
                        (serial,),
                    ).fetchall()
                return sorted(rows) == [("live", ""), ("served", "ns-fake")]

            primary.wait(live, "the served and live rows of the pushed serial")
            assert signer.process.pid not in fake.askers
            assert fake.askers and set(fake.askers) == {primary.process.pid}, fake.askers
        finally:
            if signer is not None:
                signer.stop()
            primary.stop()
