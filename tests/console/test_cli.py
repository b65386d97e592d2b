"""``tldsec registrar totp`` and ``tldsec console serve`` as an operator runs them: the
secret shown once and sealed at rest, the console over real HTTPS with the EPP
certificate, a login and a DS change recorded in the home's audit log."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import create_engine, text

from tests.cli.test_init_sign import audit_events
from tldsec.cli.main import main
from tldsec.console.totp import code_at
from tldsec.epp.tlscert import make_self_signed

TLDSEC = Path(sys.executable).parent / "tldsec"
PASSWORD = "first-pw"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "tldsec.toml").write_text(
        '[zone]\norigin = "example."\n[audit]\nkey_backend = "file"\n'
    )
    make_self_signed(home / "epp-cert.pem", home / "epp-key.pem", "localhost")
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    assert main(["db", "upgrade", "--create", "--home", str(home)]) == 0
    assert main(["registrar", "add", "alpha", "--password-file", str(tmp_path / "pw"),
                 "--home", str(home)]) == 0  # fmt: skip
    return home


def enrol(home: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["registrar", "totp", "alpha", "--user", "alice", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    secret = re.search(r"secret: ([A-Z2-7]+)", out)
    assert secret and "otpauth://totp/tldsec:alpha/alice?secret=" in out, out
    return secret.group(1)


def test_totp_enrolment_shows_the_secret_once_and_seals_it(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = enrol(home, capsys)
    key = home / "console-totp.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    engine = create_engine(f"sqlite:///{home / 'registry.db'}")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT totp_secret FROM console_user")).scalar_one()
    engine.dispose()
    assert secret not in stored  # sealed (Fernet), not the base32 secret
    assert secret.encode() not in (home / "registry.db").read_bytes()
    # Enrolling again replaces the secret: the old one no longer opens the console.
    assert enrol(home, capsys) != secret
    (entry, _again) = audit_events(home, tmp_path, "registrar.credentials_changed")[-2:]
    assert entry["details"]["what"] == "console TOTP"  # type: ignore[index]
    assert entry["details"]["user"] == "alice"  # type: ignore[index]
    assert secret not in str(entry)
    assert main(["registrar", "totp", "nobody", "--user", "x", "--home", str(home)]) == 1
    # Revoked: the row goes (audited); revoking again names what is missing.
    assert main(["registrar", "totp", "alpha", "--user", "alice", "--remove",
                 "--home", str(home)]) == 0  # fmt: skip
    engine = create_engine(f"sqlite:///{home / 'registry.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM console_user")).scalar_one() == 0
    engine.dispose()
    removed = audit_events(home, tmp_path, "registrar.credentials_changed")[-1]
    assert removed["details"]["removed"] is True  # type: ignore[index]
    capsys.readouterr()
    assert main(["registrar", "totp", "alpha", "--user", "alice", "--remove",
                 "--home", str(home)]) == 1  # fmt: skip
    assert "no console user 'alice'" in capsys.readouterr().err
    assert main(["registrar", "totp", "alpha", "--user", "Bad Name", "--home", str(home)]) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_console_serve_over_https_with_the_epp_certificate(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = enrol(home, capsys)
    port = free_port()
    proc = subprocess.Popen(
        [str(TLDSEC), "console", "serve", "--home", str(home), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        client = httpx2.Client(
            base_url=f"https://localhost:{port}",
            verify=ssl.create_default_context(cafile=home / "epp-cert.pem"),
            timeout=10,
            follow_redirects=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                page = client.get("/login")
                break
            except httpx2.TransportError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the console did not start"
                time.sleep(0.2)
        assert page.status_code == 200
        assert page.headers["strict-transport-security"].startswith("max-age=")
        assert "server" not in page.headers
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        response = client.post(
            "/login",
            data={
                "csrf": token.group(1),
                "client_id": "alpha",
                "user": "alice",
                "password": PASSWORD,
                "code": code_at(secret, datetime.now(UTC)),
            },
        )
        assert response.status_code == 200 and "Your domains" in response.text
        # Plain HTTP is not served.
        with pytest.raises(httpx2.TransportError):
            httpx2.get(f"http://127.0.0.1:{port}/login", timeout=5)
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
    assert proc.returncode == 0, err.decode()
    (login,) = audit_events(home, tmp_path, "access.login")
    assert login["actor"] == "registrar:alpha/alice"
    assert login["details"]["channel"] == "console"  # type: ignore[index]


def test_the_console_in_a_running_event_loop_as_serve_starts_it(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``start_console``: what ``tldsec serve --console-listen`` runs beside the rest."""
    import asyncio

    from tldsec.clock import SystemClock
    from tldsec.console.server import start_console
    from tldsec.errors import ConfigError
    from tldsec.settings import load_settings

    enrol(home, capsys)
    settings = load_settings(home)
    context = ssl.create_default_context(cafile=home / "epp-cert.pem")

    async def run() -> None:
        (host, port), close = await start_console(settings, SystemClock(), "127.0.0.1:0")
        try:
            async with httpx2.AsyncClient(verify=context, timeout=10) as client:
                page = await client.get(f"https://localhost:{port}/login")
            assert page.status_code == 200 and "Client ID" in page.text
            with pytest.raises(ConfigError, match=f"127.0.0.1 port {port}"):
                await start_console(settings, SystemClock(), f"127.0.0.1:{port}")
        finally:
            await close()
        assert host == "127.0.0.1"
        with pytest.raises(httpx2.TransportError):
            async with httpx2.AsyncClient(verify=context, timeout=3) as client:
                await client.get(f"https://localhost:{port}/login")

    asyncio.run(run())
