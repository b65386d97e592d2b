"""What an unauthenticated peer can hold at the primary's push listener (decision 54,
issue 20): connections over ``[push] max_connections`` or
``max_connections_per_address`` are closed before TLS, a peer that does not finish its
handshake and header within ``handshake_seconds`` is dropped, and each refusal reaches
``on_refused`` with the peer's address and the reason (serve writes it to the audit log:
``tests/service/test_push_refusals_audited.py``)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.distribute.conftest import DOMAINS, LoopThread, ZoneMaker
from tests.distribute.homes import make_home
from tests.distribute.pushing import Site, identity, peer, publish_verified, start_site, stop_site
from tldsec.distribute.push import client_context, offer_for, push_once
from tldsec.distribute.pushcert import PushIdentity
from tldsec.distribute.pushconfig import load_push_settings
from tldsec.distribute.store import ZoneStore
from tldsec.settings import load_settings


def _wait(what: str, ready: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _connect(site: Site, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(site.address, timeout=30, source_address=(source, 0))
    return sock


def _closed_by_peer(sock: socket.socket) -> bool:
    """True when the primary closed the connection (recv gives EOF or a reset)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


class Limits:
    def __init__(self, tmp_path: Path, loop: LoopThread, **limits: float) -> None:
        certs = tmp_path / "certs"
        self.signer: PushIdentity = identity(certs, "site-a")
        primary_id = identity(certs, "primary-1")
        self.site = start_site(
            loop, tmp_path / "primary", primary_id, (peer(self.signer, "site-a"),), **limits
        )
        self.target = peer(primary_id, "primary-1", self.site.address)
        self.loop = loop

    def open_connections(self) -> int:
        return self.loop.call(lambda: sum(self.site.receiver._active.values()))


@pytest.fixture
def limits(
    tmp_path: Path, loop_thread: LoopThread, request: pytest.FixtureRequest
) -> Iterator[Limits]:
    made = Limits(tmp_path, loop_thread, **request.param)
    yield made
    stop_site(loop_thread, made.site)


@pytest.mark.parametrize(
    "limits",
    [{"max_connections": 2, "max_connections_per_address": 1, "handshake": 60.0}],
    indirect=True,
)
def test_connections_over_the_caps_are_closed_before_tls_and_reported(
    limits: Limits, tmp_path: Path, zones: ZoneMaker
) -> None:
    site = limits.site
    first = _connect(site, "127.0.0.1")  # holds a slot: no TLS, nothing sent
    _wait("the first connection", lambda: limits.open_connections() == 1)
    again = _connect(site, "127.0.0.1")  # a second from the same address: over 1
    assert _closed_by_peer(again)
    refusal = site.refusal("over-cap")
    assert refusal.address == "127.0.0.1" and "max_connections_per_address = 1" in refusal.message

    other = _connect(site, "127.0.0.2")  # another address is under its own cap ...
    _wait("the second address", lambda: limits.open_connections() == 2)
    third = _connect(site, "127.0.0.3")  # ... but the total is 2
    assert _closed_by_peer(third)
    assert [r.address for r in site.refusals if r.reason == "over-cap"] == [
        "127.0.0.1",
        "127.0.0.3",
    ]
    for sock in (first, again, other, third):
        sock.close()
    _wait("the slots freed", lambda: limits.open_connections() == 0)

    # The pinned signer's push goes through once the slots are free.
    store = ZoneStore(tmp_path / "signer", "example.", keep=4)
    publish_verified(store, zones, 100, DOMAINS)
    ctx = client_context(limits.signer.cert, limits.signer.key, limits.target)
    offer = offer_for(store, 100, 1)
    assert push_once(limits.target, ctx, offer, store.zone_path(100), 10) == "pushed"


@pytest.mark.parametrize("limits", [{"handshake": 0.5, "timeout": 120.0}], indirect=True)
def test_a_peer_that_never_starts_tls_is_dropped_at_the_handshake_deadline(
    limits: Limits,
) -> None:
    """Before, the handshake had the per-read ``timeout_seconds`` (here 120 s): a
    silent peer kept its connection past this test's wait."""
    sock = _connect(limits.site)
    assert _closed_by_peer(sock)  # the socket's own timeout is 30 s
    refusal = limits.site.refusal("deadline")
    assert refusal.address == "127.0.0.1" and "handshake_seconds = 0.5" in refusal.message
    sock.close()


@pytest.mark.parametrize("limits", [{"handshake": 0.5, "timeout": 120.0}], indirect=True)
def test_a_pinned_signer_that_sends_no_header_is_dropped_at_the_same_deadline(
    limits: Limits,
) -> None:
    """The deadline runs from the connection to the header line, TLS included."""
    ctx = client_context(limits.signer.cert, limits.signer.key, limits.target)
    raw = _connect(limits.site)
    with ctx.wrap_socket(raw, server_hostname="primary-1") as tls:
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = tls.recv(4096)
            if not chunk:
                break
            answer += chunk
    body = json.loads(answer)
    assert body["ok"] is False and "no header line within" in body["error"]
    refusal = limits.site.refusal("deadline")
    assert (refusal.address, refusal.signer) == ("127.0.0.1", "site-a")


def test_the_caps_and_the_deadline_are_read_from_push_with_defaults(tmp_path: Path) -> None:
    plain = load_push_settings(load_settings(make_home(tmp_path / "plain")))
    assert (plain.max_connections, plain.max_connections_per_address) == (16, 4)
    assert plain.handshake == 10.0
    extra = (
        "[push]\nmax_connections = 3\nmax_connections_per_address = 1\nhandshake_seconds = 2.5\n"
    )
    tuned = load_push_settings(load_settings(make_home(tmp_path / "tuned", extra=extra)))
    assert (tuned.max_connections, tuned.max_connections_per_address) == (3, 1)
    assert tuned.handshake == 2.5
