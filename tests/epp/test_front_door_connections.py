"""Issue 18, unbounded pre-login connections: the caps on connections not logged in (per
source address and in total), the login deadline, and the minimum rate of a frame in
progress. Over the real server and TLS, with small limits; every loop is bounded.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from tests.fixtures.epp import PASSWORD, RunningServer, TlsFiles
from tests.fixtures.registry import RegistryWorld
from tldsec.epp.client import EppClient
from tldsec.epp.framing import encode
from tldsec.epp.server import ServerLimits

HELLO = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><hello/></epp>'
)
CLOSED = (ConnectionError, ssl.SSLError, socket.timeout, OSError)


def serve(world: RegistryWorld, tls: TlsFiles, **limits: float) -> RunningServer:
    for registrar in ("alpha", "beta"):
        world.add_registrar(registrar, PASSWORD)
    return RunningServer(world, tls, ServerLimits(workers=2, **limits))  # type: ignore[arg-type]


@pytest.fixture
def capped(registry_world: RegistryWorld, tls_files: TlsFiles) -> Iterator[RunningServer]:
    running = serve(
        registry_world, tls_files, max_unauthenticated_per_address=3, max_unauthenticated=5
    )
    yield running
    running.stop()


def refused(server: RunningServer, source: str) -> bool:
    """Whether a new connection from ``source`` is closed without a greeting."""
    client = EppClient(server.host, server.port, _context(server), source=source, timeout=10)
    try:
        client.connect()
    except CLOSED:
        return True
    client.close()
    return False


def settles(server: RunningServer, count: int) -> bool:
    """Whether the server's count of connections not logged in comes to ``count`` (the
    server sees a client's close a moment later)."""
    for _ in range(100):
        if server.server.unauthenticated() == count:
            return True
        time.sleep(0.05)
    return False


def _context(server: RunningServer) -> ssl.SSLContext:
    from tldsec.epp.tls import client_context

    return client_context(server.tls.cert)


def test_connections_not_logged_in_are_capped_per_address(capped: RunningServer) -> None:
    with contextlib.ExitStack() as held:
        first = [held.enter_context(capped.client(source="127.0.0.2")) for _ in range(3)]
        assert refused(capped, "127.0.0.2")
        assert not refused(capped, "127.0.0.3")  # another address is not affected
        # One of them logs in: it no longer counts, and a new one is let in.
        assert first[0].login("alpha", PASSWORD).code == 1000
        assert not refused(capped, "127.0.0.2")
        # Once the closed ones are gone: the two held, not the logged-in one.
        assert settles(capped, 2)


def test_connections_not_logged_in_are_capped_in_total(capped: RunningServer) -> None:
    with contextlib.ExitStack() as held:
        for source in ("127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3", "127.0.0.4"):
            held.enter_context(capped.client(source=source))
        assert refused(capped, "127.0.0.5")
    assert settles(capped, 0)  # closed connections are no longer counted
    assert not refused(capped, "127.0.0.5")


@pytest.fixture
def deadline(registry_world: RegistryWorld, tls_files: TlsFiles) -> Iterator[RunningServer]:
    running = serve(registry_world, tls_files, login_timeout=1.0, idle_timeout=30.0)
    yield running
    running.stop()


def test_a_busy_session_must_still_log_in_in_time(deadline: RunningServer) -> None:
    """Hellos every 0.2 s keep the session from idling, never from the login deadline."""
    with deadline.client() as client, pytest.raises(CLOSED):
        for _ in range(100):  # 20 s at most; the deadline is 1 s
            assert client.hello().is_greeting
            time.sleep(0.2)
    with deadline.client() as client:  # a login in time holds the session past it
        assert client.login("alpha", PASSWORD).code == 1000
        time.sleep(1.5)
        assert client.hello().is_greeting


@pytest.fixture
def slow(registry_world: RegistryWorld, tls_files: TlsFiles) -> Iterator[RunningServer]:
    running = serve(
        registry_world, tls_files, min_frame_rate=200.0, frame_grace=0.5, idle_timeout=30.0
    )
    yield running
    running.stop()


def drip(client: EppClient, data: bytes, pause: float) -> bool:
    """Send ``data`` one byte at a time; True if the server closed the connection first."""
    try:
        for byte in data:
            client.send_raw(bytes([byte]))
            time.sleep(pause)
        client.read_response()
    except CLOSED:
        return True
    return False


@pytest.mark.parametrize("logged_in", [False, True])
def test_a_frame_sent_one_byte_at_a_time_is_cut_off(slow: RunningServer, logged_in: bool) -> None:
    with slow.client() as client:
        if logged_in:
            assert client.login("alpha", PASSWORD).code == 1000
        # 10 bytes a second, where 200 are required after half a second: the frame
        # (about 100 bytes) would take 10 s; the server gives it 1 s.
        assert drip(client, encode(HELLO), 0.1)
    with slow.client() as client:  # a frame at a normal pace is answered
        client.send_raw(encode(HELLO))
        assert client.read_response().is_greeting


def test_a_connection_that_never_starts_tls_is_closed_at_the_login_deadline(
    deadline: RunningServer,
) -> None:
    """TLS counts against the login deadline (1 s here; the handshake's own limit is 30 s)."""
    with socket.create_connection((deadline.host, deadline.port), timeout=10) as raw:
        assert raw.recv(1) == b""  # closed by the server, well before the socket timeout
