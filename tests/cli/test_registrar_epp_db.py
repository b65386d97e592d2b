"""The registry's CLI: ``db upgrade``, ``registrar add|list|passwd|cert``, ``epp serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_init_sign import audit_events
from tests.fixtures.epp import make_client_cert
from tldsec.cli.common import operator_actor
from tldsec.cli.main import main
from tldsec.epp.client import EppClient
from tldsec.epp.tls import client_context
from tldsec.epp.tlscert import make_self_signed
from tldsec.epp.xml.codec import DOMAIN, EPP
from tldsec.errors import ConfigError
from tldsec.service.epp import parse_listen

TLDSEC = Path(sys.executable).parent / "tldsec"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    # The audit key in a file: this home has no HSM (tldsec init would make one).
    (home / "tldsec.toml").write_text(
        '[zone]\norigin = "example."\n[audit]\nkey_backend = "file"\n'
    )
    (tmp_path / "pw").write_text("first-pw\n")
    (tmp_path / "pw2").write_text("second-pw\n")
    return home


def run(*argv: str) -> int:
    return main(list(argv))


def test_registrar_commands_need_an_upgraded_database(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("registrar", "list", "--home", str(home)) == 1
    assert "tldsec db upgrade" in capsys.readouterr().err


def test_db_upgrade_and_registrar_lifecycle(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("db", "upgrade", "--create", "--home", str(home)) == 0
    assert "registry: sqlite:///" in capsys.readouterr().out
    assert run("db", "upgrade", "--home", str(home)) == 0  # exists now: no --create needed
    pw = str(tmp_path / "pw")
    assert run("registrar", "add", "alpha", "--password-file", pw, "--home", str(home)) == 0
    assert run("registrar", "add", "alpha", "--password-file", pw, "--home", str(home)) == 1
    assert "already exists" in capsys.readouterr().err
    assert (
        run(
            "registrar",
            "passwd",
            "alpha",
            "--password-file",
            str(tmp_path / "pw2"),
            "--home",
            str(home),
        )
        == 0
    )
    cert = make_client_cert(tmp_path)
    assert (
        run("registrar", "cert", "alpha", "--cert-file", str(cert.cert), "--home", str(home)) == 0
    )
    assert cert.fingerprint in capsys.readouterr().out
    assert run("registrar", "list", "--home", str(home)) == 0
    listing = capsys.readouterr().out
    assert "alpha" in listing and cert.fingerprint[:16] in listing
    assert run("registrar", "cert", "alpha", "--clear", "--home", str(home)) == 0
    capsys.readouterr()
    assert (
        run("registrar", "allow", "alpha", "192.0.2.7", "2001:db8::/48", "--home", str(home)) == 0
    )
    assert "192.0.2.7/32 2001:db8::/48" in capsys.readouterr().out
    assert run("registrar", "list", "--home", str(home)) == 0
    assert "192.0.2.7/32 2001:db8::/48" in capsys.readouterr().out
    assert run("registrar", "allow", "alpha", "not-a-net", "--home", str(home)) == 1
    assert run("registrar", "allow", "alpha", "--any", "--home", str(home)) == 0
    assert "any address" in capsys.readouterr().out
    assert run("registrar", "passwd", "nobody", "--password-file", pw, "--home", str(home)) == 1

    # Every change is in the audit log as the operator's; the refused ones are not.
    changes = audit_events(home, tmp_path, "registrar.")
    assert [(e["event"], e["details"]["source_event"]) for e in changes] == [  # type: ignore[index]
        ("registrar.created", "registrar.add"),
        ("registrar.credentials_changed", "registrar.passwd"),
        ("registrar.credentials_changed", "registrar.cert"),
        ("registrar.credentials_changed", "registrar.cert"),
        ("registrar.credentials_changed", "registrar.allow"),
        ("registrar.credentials_changed", "registrar.allow"),
    ]
    assert {e["actor"] for e in changes} == {operator_actor()}


def test_parse_listen() -> None:
    assert parse_listen("0.0.0.0:700") == ("0.0.0.0", 700)
    assert parse_listen("[::1]:7000") == ("::1", 7000)
    with pytest.raises(ConfigError):
        parse_listen("nowhere")


def test_epp_serve_runs_until_sigterm(home: Path, tmp_path: Path) -> None:
    assert run("db", "upgrade", "--create", "--home", str(home)) == 0
    assert (
        run(
            "registrar",
            "add",
            "alpha",
            "--password-file",
            str(tmp_path / "pw"),
            "--home",
            str(home),
        )
        == 0
    )
    make_self_signed(home / "epp-cert.pem", home / "epp-key.pem", "localhost")
    server = subprocess.Popen(
        [str(TLDSEC), "epp", "serve", "--home", str(home), "--listen", "127.0.0.1:0", "--no-audit"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("EPP server listening on 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        with EppClient("127.0.0.1", port, client_context(home / "epp-cert.pem")) as client:
            assert client.greeting is not None and client.greeting.is_greeting
            assert client.login("alpha", "first-pw").code == 1000
            assert client.domain_create("cli.example").code == 1000
            assert client.logout().code == 1500
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


def test_registrar_accredit_and_revoke(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tldsec registrar accredit|revoke ID ZONE``: audited as the operator's, each entry
    naming its zone (decisions 57, 58); a zone the registry does not serve is named."""
    import sqlite3

    assert run("db", "upgrade", "--create", "--home", str(home)) == 0
    pw = str(tmp_path / "pw")
    assert run("registrar", "add", "alpha", "--password-file", pw, "--home", str(home)) == 0
    with sqlite3.connect(home / "registry.db") as conn:  # until 'tldsec zone add' (piece 3)
        conn.execute("INSERT INTO zone (origin, added_at) VALUES ('shop.', '2026-01-01 00:00')")
    capsys.readouterr()
    h = ("--home", str(home))
    assert run("registrar", "accredit", "alpha", "shop", "--from", "2026-02-01", *h) == 0
    assert "alpha accredited for shop. from 2026-02-01T00:00:00+00:00" in capsys.readouterr().out
    assert run("registrar", "accredit", "alpha", "shop.", *h) == 1
    assert "already accredited for shop." in capsys.readouterr().err
    assert run("registrar", "accredit", "alpha", "org.", *h) == 1
    assert "no zone org. (its zones: example., shop.)" in capsys.readouterr().err
    assert run("registrar", "revoke", "alpha", "shop.", "--at", "2026-03-01T09:00+09:00", *h) == 0
    assert "ends 2026-03-01T00:00:00+00:00" in capsys.readouterr().out
    assert run("registrar", "revoke", "alpha", "shop.", *h) == 1
    assert "not accredited for shop." in capsys.readouterr().err
    entries = [
        e for e in audit_events(home, tmp_path, "registrar.") if e["event"] != "registrar.created"
    ]
    assert [(e["event"], e["zone"], e["actor"]) for e in entries] == [
        ("registrar.accredited", "shop.", operator_actor()),
        ("registrar.accreditation_revoked", "shop.", operator_actor()),
    ]


def test_registrar_commands_in_a_home_of_two_zones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A home of ``[zones.example]`` and ``[zones.shop]``: every ``tldsec registrar``
    command works (it needed the home's one origin before), and a registrar added there
    is accredited for no zone until the operator says (decision 61)."""
    import sqlite3

    home = tmp_path / "multi"
    home.mkdir()
    (home / "tldsec.toml").write_text(
        '[zones.example]\n[zones.shop]\n[audit]\nkey_backend = "file"\n'
    )
    (tmp_path / "pw").write_text("first-pw\n")
    h = ("--home", str(home))
    assert run("db", "upgrade", "--create", *h) == 0
    with sqlite3.connect(home / "registry.db") as conn:  # until 'tldsec zone add' (piece 3)
        for origin in ("example.", "shop."):
            conn.execute(
                "INSERT INTO zone (origin, added_at) VALUES (?, '2026-01-01 00:00')", (origin,)
            )
    assert run("registrar", "add", "alpha", "--password-file", str(tmp_path / "pw"), *h) == 0
    assert run("registrar", "list", *h) == 0
    with sqlite3.connect(home / "registry.db") as conn:
        assert conn.execute("SELECT count(*) FROM registrar_zone").fetchone() == (0,)
    assert run("registrar", "accredit", "alpha", "shop.", *h) == 0
    with sqlite3.connect(home / "registry.db") as conn:
        assert conn.execute("SELECT zone_id FROM registrar_zone").fetchall() == [(2,)]
    capsys.readouterr()
    # The server 'tldsec epp serve' builds for this home routes by the two zones.
    from tldsec.clock import SystemClock
    from tldsec.epp.dispatch import Connection
    from tldsec.epp.login import LoginGate
    from tldsec.service.epp import build_server
    from tldsec.settings import load_settings

    make_self_signed(home / "epp-cert.pem", home / "epp-key.pem", "localhost")
    clock = SystemClock()
    parts = build_server(load_settings(home), clock, LoginGate(clock), audit=True)
    try:
        dispatcher, conn = parts.server.dispatcher, Connection(peer="127.0.0.1:1")

        def send(body: str) -> bytes:
            return dispatcher.handle(
                f'<?xml version="1.0" encoding="UTF-8"?><epp xmlns="{EPP}"><command>{body}'
                "<clTRID>cl-1</clTRID></command></epp>".encode(),
                conn,
            ).data

        assert b'code="1000"' in send(
            "<login><clID>alpha</clID><pw>first-pw</pw><options><version>1.0</version>"
            f"<lang>en</lang></options><svcs><objURI>{DOMAIN}</objURI></svcs></login>"
        )
        for name, code in (("a.shop", b'code="1000"'), ("a.example", b'code="2201"')):
            answer = send(
                f'<create><domain:create xmlns:domain="{DOMAIN}"><domain:name>{name}'
                "</domain:name><domain:authInfo><domain:pw>auth-pw-1</domain:pw>"
                "</domain:authInfo></domain:create></create>"
            )
            assert code in answer, answer
    finally:
        parts.close()
