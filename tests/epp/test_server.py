"""The EPP server over real TLS: greeting, framing (RFC 5734), sessions, login rules, abuse.

Every bad frame gets its RFC 5730 result code and a reason, and the session (or at least
the server) stays up.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fixtures.epp import (
    PASSWORD,
    RunningServer,
    TlsFiles,
    assert_valid,
    make_client_cert,
)
from tests.fixtures.registry import RegistryWorld
from tldsec.epp.client import EppClient
from tldsec.epp.server import ServerLimits
from tldsec.epp.tls import client_context, server_context
from tldsec.registry import registrars
from tldsec.registry.models import EppTransaction

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def frame(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_greeting_on_connect_and_on_hello(epp: RunningServer) -> None:
    with epp.client() as client:
        assert client.greeting is not None and client.greeting.is_greeting
        assert_valid(client.greeting)
        assert client.greeting.text("epp:greeting/epp:svcMenu/epp:svcExtension/epp:extURI") == (
            "urn:ietf:params:xml:ns:secDNS-1.1"
        )
        again = client.request(frame("epp_hello_plain.xml"))
        assert again.is_greeting


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_below_1_2_is_refused(epp: RunningServer) -> None:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(epp.tls.cert)
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionError)):
        EppClient(epp.host, epp.port, old).connect()


def test_login_logout_and_the_transaction_log(epp: RunningServer) -> None:
    with epp.client() as client:
        response = client.request(frame("epp_login_plain.xml"))
        assert response.code == 1000
        assert response.text("epp:response/epp:trID/epp:clTRID") == "ABC-12345"
        assert_valid(response)
        bye = client.logout()
        assert bye.code == 1500
        with pytest.raises(ConnectionError):
            client.hello()
    with epp.world.db.read() as s:
        rows = s.scalars(select(EppTransaction).order_by(EppTransaction.id)).all()
        assert rows[0].cl_trid == "ABC-12345" and rows[0].sv_trid.startswith("tldsec-")
    assert [(r.command, r.client_id, r.result_code) for r in rows] == [
        ("login", "alpha", 1000),
        ("logout", "alpha", 1500),
    ]


@pytest.mark.parametrize(
    ("fixture", "code", "reason"),
    [
        ("epp_command_not_well_formed.xml", 2001, "not well-formed XML"),
        ("epp_command_doctype.xml", 2001, "DOCTYPE is not allowed"),
        ("domain_create_schema_violation.xml", 2001, "does not validate"),
        ("epp_command_unknown.xml", 2000, "not an EPP command"),
        ("epp_check_unknown_object.xml", 2307, "urn:example:params:xml:ns:foo-1.0"),
        ("domain_info_unknown_extension.xml", 2103, "urn:ietf:params:xml:ns:rgp-1.0"),
        ("domain_info_plain.xml", 2002, "log in first"),
    ],
)
def test_bad_frames_get_their_code_and_the_session_stays(
    epp: RunningServer, fixture: str, code: int, reason: str
) -> None:
    with epp.client() as client:
        response = client.request(frame(fixture))
        assert (response.code, reason in response.message) == (code, True), response.message
        assert_valid(response)
        assert client.hello().is_greeting


def test_framing_abuse(epp: RunningServer) -> None:
    with epp.client() as client:
        # A header claiming less than itself.
        client.send_raw((2).to_bytes(4, "big"))
        response = client.read_response()
        assert response.code == 2001 and "leaves no room" in response.message
        # A frame over the limit is read, discarded and refused; the session goes on.
        oversize = b"<" * 70000
        client.send_raw((len(oversize) + 4).to_bytes(4, "big") + oversize)
        response = client.read_response()
        assert response.code == 2001 and "exceeds the 65536-byte limit" in response.message
        assert client.hello().is_greeting
        # A header claiming fewer bytes than the XML has: the cut XML is refused.
        hello = frame("epp_hello_plain.xml")
        client.send_raw((len(hello) + 4 - 10).to_bytes(4, "big") + hello[:-10])
        response = client.read_response()
        assert response.code == 2001 and "not well-formed" in response.message
        assert client.hello().is_greeting


def test_an_absurd_frame_length_closes_the_connection(epp: RunningServer) -> None:
    with epp.client() as client:
        client.send_raw((2**31).to_bytes(4, "big"))
        response = client.read_response()
        assert response.code == 2001 and "closing" in response.message
        with pytest.raises(ConnectionError):
            client.hello()
    with epp.client() as other:
        assert other.hello().is_greeting


@pytest.fixture
def quick(registry_world: RegistryWorld, tls_files: TlsFiles) -> Iterator[RunningServer]:
    """A server with a 1-second idle timeout and tight login limits."""
    for registrar in ("alpha", "beta"):
        registry_world.add_registrar(registrar, PASSWORD)
    running = RunningServer(
        registry_world,
        tls_files,
        ServerLimits(workers=2, idle_timeout=1.0),
        max_sessions=2,
        max_failures=4,
    )
    yield running
    running.stop()


def test_idle_sessions_and_lying_lengths_time_out(quick: RunningServer) -> None:
    with quick.client() as client:
        client.send_raw((500).to_bytes(4, "big") + b"<epp")  # then silence
        time.sleep(1.5)
        with pytest.raises((ConnectionError, ssl.SSLError, socket.timeout)):
            client.hello()
    with quick.client() as other:
        assert other.hello().is_greeting


def test_failed_logins_are_limited_per_session_and_per_client(quick: RunningServer) -> None:
    with quick.client() as client:
        assert client.login("alpha", "wrong-pw-1").code == 2200
        assert client.login("alpha", "wrong-pw-2").code == 2200
        last = client.login("alpha", "wrong-pw-3")
        assert last.code == 2501
        with pytest.raises(ConnectionError):
            client.hello()
    with quick.client() as client:
        assert client.login("alpha", "wrong-pw-4").code == 2200
        # Four failures in the window: even the right password is refused now.
        refused = client.login("alpha", PASSWORD)
        assert refused.code == 2501 and "too many failed logins" in refused.message
    events = [e[0] for e in quick.world.events]
    assert events.count("epp.login.failed") == 4 and "epp.login.throttled" in events
    quick.world.clock.advance(timedelta(minutes=6))
    with quick.client() as client:
        assert client.login("alpha", PASSWORD).code == 1000


def test_session_limit_per_registrar(quick: RunningServer) -> None:
    first, second = quick.logged_in("alpha"), quick.logged_in("alpha")
    try:
        with quick.client() as third:
            response = third.login("alpha", PASSWORD)
            assert response.code == 2502
            with pytest.raises(ConnectionError):
                third.hello()
        assert first.logout().code == 1500
        with quick.client() as again:
            assert again.login("alpha", PASSWORD).code == 1000
    finally:
        first.close()
        second.close()


def test_login_twice_and_new_password(epp: RunningServer) -> None:
    with epp.client() as client:
        assert client.login("alpha", PASSWORD, new_password="changed-pw").code == 1000
        assert client.login("alpha", "changed-pw").code == 2002
    with epp.client() as client:
        assert client.login("alpha", "changed-pw").code == 1000


def test_unoffered_services_at_login(epp: RunningServer) -> None:
    with epp.client() as client:
        response = client.login("alpha", PASSWORD, objects=("urn:example:foo-1.0",))
        assert response.code == 2307
        response = client.login("alpha", PASSWORD, extensions=("urn:ietf:params:xml:ns:rgp-1.0",))
        assert response.code == 2103


def test_pinned_client_certificate(
    registry_world: RegistryWorld, tls_files: TlsFiles, tmp_path: Path
) -> None:
    cert = make_client_cert(tmp_path)
    registry_world.add_registrar("alpha", PASSWORD)
    with registry_world.db.write() as s:
        registrars.set_cert_fingerprint(s, registry_world.tx(), "alpha", cert.fingerprint)
    context = server_context(tls_files.cert, tls_files.key, client_ca=cert.ca)
    running = RunningServer(registry_world, tls_files, ServerLimits(workers=2), context=context)
    try:
        with running.client() as anonymous:
            assert anonymous.login("alpha", PASSWORD).code == 2200
        with_cert = client_context(tls_files.cert, cert=cert.cert, key=cert.key)
        with running.client(with_cert) as pinned:
            assert pinned.login("alpha", PASSWORD).code == 1000
    finally:
        running.stop()


def test_required_client_certificates(
    registry_world: RegistryWorld, tls_files: TlsFiles, tmp_path: Path
) -> None:
    cert = make_client_cert(tmp_path)
    context = server_context(
        tls_files.cert, tls_files.key, client_ca=cert.ca, require_client_cert=True
    )
    running = RunningServer(registry_world, tls_files, ServerLimits(workers=2), context=context)
    try:
        anonymous = EppClient(running.host, running.port, client_context(tls_files.cert))
        try:
            with pytest.raises((ssl.SSLError, ConnectionError)):
                anonymous.connect()
                anonymous.hello()
        finally:
            anonymous.close()
        with_cert = client_context(tls_files.cert, cert=cert.cert, key=cert.key)
        with running.client(with_cert) as client:
            assert client.hello().is_greeting
    finally:
        running.stop()
