"""Issue 18, lockout by anyone: failed-login limits keyed on (client id, address), the
allow-list, the pinned certificate, and one counter for several servers (the database).

Over the real server and TLS; clients come from several loopback addresses (127.0.0.2,
127.0.0.3, ...), each a different attacker.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fixtures.epp import PASSWORD, RunningServer, TlsFiles, make_client_cert
from tests.fixtures.registry import RegistryWorld
from tldsec.epp.server import ServerLimits
from tldsec.epp.tls import client_context, server_context
from tldsec.registry import registrars
from tldsec.registry.login_failures import DbFailures
from tldsec.registry.models import LoginFailure

ATTACKERS = [f"127.0.0.{n}" for n in range(2, 7)]
HOME = "127.0.0.1"  # where the real registrar logs in from


def fail(server: RunningServer, client_id: str, source: str, times: int = 1) -> list[int]:
    codes = []
    for n in range(times):
        with server.client(source=source) as client:
            codes.append(client.login(client_id, f"wrong-pw-{n}").code)
    return codes


def login_code(server: RunningServer, client_id: str, source: str = HOME, **kw: object) -> int:
    with server.client(source=source, **kw) as client:  # type: ignore[arg-type]
        return client.login(client_id, PASSWORD).code


def test_failures_from_other_addresses_never_lock_the_registrar_out(epp: RunningServer) -> None:
    for source in ATTACKERS:  # five wrong passwords, from five addresses
        assert fail(epp, "beta", source) == [2200]
    assert login_code(epp, "beta") == 1000
    # Repeated every five minutes, as the issue found it: still no lockout.
    epp.world.clock.advance(timedelta(minutes=5, seconds=1))
    for source in ATTACKERS:
        fail(epp, "beta", source, times=2)
    assert login_code(epp, "beta") == 1000


def test_one_address_is_limited_for_every_client_id(epp: RunningServer) -> None:
    attacker = ATTACKERS[0]
    assert fail(epp, "beta", attacker, times=5) == [2200] * 5
    assert login_code(epp, "beta", attacker) == 2501  # that pair is locked
    assert login_code(epp, "alpha", attacker) == 2501  # and that address, for any id
    assert login_code(epp, "beta") == 1000  # the registrar, from its own address, is not
    epp.world.clock.advance(timedelta(minutes=5, seconds=1))
    assert login_code(epp, "beta", attacker) == 1000


def test_addresses_outside_the_allow_list_never_count(epp: RunningServer) -> None:
    with epp.world.db.write() as s:
        registrars.set_allowed_networks(s, epp.world.tx(), "beta", ["127.0.0.1/32"])
    for source in ATTACKERS:
        assert fail(epp, "beta", source, times=2) == [2200, 2200]
        assert login_code(epp, "beta", source) == 2200  # even the right password
    with epp.client() as client:  # from the allowed address, after all of that
        for n in range(2):
            assert client.login("beta", f"wrong-{n}-pw").code == 2200
        assert client.login("beta", PASSWORD).code == 1000
    events = [e for e in epp.world.events if e[0] == "epp.login.failed"]
    assert any(e[2].get("reason") == "address not allowed" for e in events)


@pytest.fixture
def pinned(
    registry_world: RegistryWorld, tls_files: TlsFiles, tmp_path: Path
) -> Iterator[tuple[RunningServer, Path, Path]]:
    cert = make_client_cert(tmp_path, "beta")
    for registrar in ("alpha", "beta"):
        registry_world.add_registrar(registrar, PASSWORD)
    with registry_world.db.write() as s:
        registrars.set_cert_fingerprint(s, registry_world.tx(), "beta", cert.fingerprint)
    context = server_context(tls_files.cert, tls_files.key, client_ca=cert.ca)
    running = RunningServer(registry_world, tls_files, ServerLimits(workers=2), context=context)
    yield running, cert.cert, cert.key
    running.stop()


def test_a_lockout_never_blocks_the_pinned_certificate(
    pinned: tuple[RunningServer, Path, Path],
) -> None:
    server, cert, key = pinned
    # The attacker shares the registrar's address (a NAT) and locks the pair and the address.
    assert fail(server, "beta", HOME, times=5) == [2200] * 5
    assert login_code(server, "beta") == 2501
    with_cert = client_context(server.tls.cert, cert=cert, key=key)
    with server.client(with_cert) as client:
        assert client.login("beta", PASSWORD).code == 1000


def test_two_servers_enforce_one_limit(
    registry_world_any: RegistryWorld, tls_files: TlsFiles
) -> None:
    """Two EPP servers (two hosts) sharing only the registry database: failures counted by
    one lock the pair on the other (SQLite and PostgreSQL)."""
    registry_world = registry_world_any
    for registrar in ("alpha", "beta"):
        registry_world.add_registrar(registrar, PASSWORD)
    servers = [
        RunningServer(
            registry_world,
            tls_files,
            ServerLimits(workers=2),
            failures=DbFailures(registry_world.db),
        )
        for _ in range(2)
    ]
    try:
        first, second = servers
        attacker = ATTACKERS[0]
        assert fail(first, "beta", attacker, times=3) == [2200] * 3
        assert fail(second, "beta", attacker, times=2) == [2200] * 2
        assert login_code(first, "beta", attacker) == 2501
        assert login_code(second, "beta", attacker) == 2501
        assert login_code(second, "beta") == 1000
        assert first.gate.tracked() == 2  # the pair and the address
        registry_world.clock.advance(timedelta(minutes=5, seconds=1))
        assert login_code(second, "beta", attacker) == 1000
        # A failure elsewhere clears every row past the window, whatever its key.
        assert fail(first, "alpha", ATTACKERS[1]) == [2200]
        with registry_world.db.read() as s:
            keys = sorted(s.scalars(select(LoginFailure.key)))
        assert keys == ["pair:alpha@127.0.0.3", "peer:127.0.0.3"]
        registry_world.clock.advance(timedelta(minutes=5, seconds=1))
        assert first.gate.tracked() == 0  # past the window, the rows are gone
    finally:
        for server in servers:
            server.stop()
