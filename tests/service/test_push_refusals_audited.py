"""A real ``tldsec serve --role primary`` writes every refused push to its audit log
(decision 54, DPS 4.4.1, 5.6): ``zone.push_refused`` by ``component:serve`` with the
peer's address and the reason; a flood beyond the queue is counted, not lost silently."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import ssl
from datetime import UTC, datetime
from pathlib import Path

from tests.distribute.homes import make_home
from tests.distribute.nameservers import free_port
from tests.service.running import Serve, secondary_config
from tests.service.test_roles import identities, primary_push
from tldsec.audit.config import open_audit_log
from tldsec.clock import SystemClock
from tldsec.distribute.push import client_context
from tldsec.distribute.pushcert import fingerprint, new_certificate
from tldsec.distribute.pushconfig import PushPeer
from tldsec.distribute.receive import Refusal
from tldsec.service.pushaudit import RefusalRecorder
from tldsec.settings import load_settings


def _refusals(home: Path) -> list[tuple[str, dict[str, object]]]:
    with sqlite3.connect(home / "audit.db") as db:
        rows = db.execute(
            "SELECT actor, details FROM audit_entries WHERE event = 'zone.push_refused' "
            "ORDER BY seq"
        ).fetchall()
    return [(actor, json.loads(details)) for actor, details in rows]


def test_serve_as_primary_audits_an_unpinned_signer_and_a_connection_over_the_cap(
    tmp_path: Path,
) -> None:
    signer_id, primary_id = identities(tmp_path / "certs")
    port = free_port()
    caps = "max_connections = 1\n"
    home = make_home(
        tmp_path / "primary",
        extra=secondary_config()
        + primary_push(primary_id, signer_id, port).replace(
            "timeout_seconds = 10\n", "timeout_seconds = 10\nhandshake_seconds = 30\n" + caps
        ),
    )
    primary = Serve.start(home, tmp_path / "primary.log", "--role", "primary", serial=False)
    try:
        # A signer nobody pinned: refused at the TLS handshake.
        rogue = new_certificate("rogue", tmp_path / "rogue", datetime.now(UTC))
        target = PushPeer("primary-1", primary_id.cert, fingerprint(primary_id.cert), None)
        ctx = client_context(rogue.cert, rogue.key, target)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
            contextlib.suppress(ssl.SSLError, OSError),  # TLS 1.3: at the first read
            ctx.wrap_socket(raw, server_hostname="primary-1") as tls,
        ):
            assert tls.recv(1) == b""
        primary.wait(lambda: len(_refusals(home)) == 1, "the TLS refusal audited")

        # One connection held open (the cap is 1): the next is closed and audited.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as held:
            # (accepted in order: its handler counts it before the next one's runs)
            with socket.create_connection(("127.0.0.1", port), timeout=30) as over:
                assert over.recv(1) == b""
            primary.wait(lambda: len(_refusals(home)) == 2, "the over-cap refusal audited")
            assert held.fileno() >= 0
    finally:
        primary.stop()
    (actor1, tls_refusal), (actor2, cap_refusal) = _refusals(home)
    assert actor1 == actor2 == "component:serve"
    assert tls_refusal["peer"] == "127.0.0.1" and tls_refusal["reason"] == "tls"
    assert "TLS handshake failed" in str(tls_refusal["error"])
    assert cap_refusal["peer"] == "127.0.0.1" and cap_refusal["reason"] == "over-cap"
    assert "max_connections = 1" in str(cap_refusal["error"])


def test_refusals_beyond_the_queue_are_counted_in_the_next_entry(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    settings = load_settings(home)
    audit = open_audit_log(settings, SystemClock())

    def write(event: str, **details: object) -> None:
        audit.record(event, actor="component:serve", **details)

    async def flood() -> None:
        recorder = RefusalRecorder(write, size=2)
        for n in range(5):
            recorder(Refusal(f"192.0.2.{n}", 1000 + n, "over-cap", f"refusal {n}"))
        await recorder.drain()

    try:
        asyncio.run(flood())
    finally:
        audit.close()
    entries = [d for _, d in _refusals(home)]
    assert [e["peer"] for e in entries] == ["192.0.2.0", "192.0.2.1"]
    assert entries[0]["unrecorded_before"] == 3 and "unrecorded_before" not in entries[1]
