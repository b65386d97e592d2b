"""NOTIFY (RFC 1996): sent signed to each secondary, answered, retried when nobody
answers, and never making the caller wait."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdata
import dns.rrset
import dns.tsig
import pytest

from tests.distribute.conftest import TSIG, LoopThread
from tests.distribute.nameservers import free_port
from tldsec.clock import SystemClock
from tldsec.distribute.config import NotifySettings
from tldsec.distribute.notify import Notifier, NotifyTarget

ORIGIN = dns.name.from_text("example.")


def soa(serial: int) -> dns.rrset.RRset:
    rd = dns.rdata.from_text("IN", "SOA", f"a.nic.example. h.example. {serial} 1 1 1 1")
    return dns.rrset.from_rdata(ORIGIN, 3600, rd)


@dataclass
class FakeSecondary:
    """Answers NOTIFY on a UDP port (after ``ignore`` unanswered ones), checking TSIG."""

    key: dns.tsig.Key | None = None
    ignore: int = 0
    received: list[dns.message.Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except OSError:
                return
            keyring = {self.key.name: self.key} if self.key else None
            msg = dns.message.from_wire(data, keyring=keyring)
            self.received.append(msg)
            if len(self.received) <= self.ignore:
                continue
            try:
                self.sock.sendto(dns.message.make_response(msg).to_wire(), addr)
            except OSError:  # closed by the test while a late retry was arriving
                return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def secondary() -> Iterator[FakeSecondary]:
    fake = FakeSecondary(key=TSIG.dns_key(), ignore=1)
    yield fake
    fake.close()


def test_notify_is_signed_answered_and_retried(
    secondary: FakeSecondary, loop_thread: LoopThread
) -> None:
    target = NotifyTarget("ns1", "127.0.0.1", secondary.port, TSIG.dns_key())
    notifier = Notifier(ORIGIN, (target,), SystemClock(), NotifySettings(0.3, 4, 0.05))
    loop_thread.call(lambda: notifier.announce(7, soa(7)))
    loop_thread.run(notifier.wait())
    (state,) = notifier.states.values()
    assert state.acknowledged and state.attempts == 2 and not state.given_up
    first = secondary.received[0]
    assert first.opcode() == dns.opcode.NOTIFY and first.flags & dns.flags.AA
    assert first.had_tsig and first.answer[0][0].serial == 7  # RFC 1996 3.7


def test_a_secondary_that_is_down_is_retried_and_nobody_waits(loop_thread: LoopThread) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    silent.bind(("127.0.0.1", 0))
    down = NotifyTarget("down", "127.0.0.1", silent.getsockname()[1])
    refused = NotifyTarget("refused", "127.0.0.1", free_port())  # nothing listens
    notifier = Notifier(ORIGIN, (down, refused), SystemClock(), NotifySettings(0.1, 3, 0.01))
    try:
        loop_thread.call(lambda: notifier.announce(8, soa(8)))
        # announce() returned before a single answer could have come back
        assert not any(s.acknowledged or s.given_up for s in notifier.states.values())
        loop_thread.run(notifier.wait())
    finally:
        silent.close()
    for state in notifier.states.values():
        assert state.given_up and state.attempts == 3 and not state.acknowledged
        assert state.last_error


def test_a_newer_serial_replaces_the_retries_of_an_older_one(loop_thread: LoopThread) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    target = NotifyTarget("slow", "127.0.0.1", silent.getsockname()[1])
    notifier = Notifier(ORIGIN, (target,), SystemClock(), NotifySettings(5, 5, 5))
    try:
        loop_thread.call(lambda: notifier.announce(9, soa(9)))
        loop_thread.call(lambda: notifier.announce(10, soa(10)))
        (state,) = notifier.states.values()
        assert state.serial == 10
        loop_thread.run(notifier.close())
    finally:
        silent.close()
