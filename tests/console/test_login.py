"""Console login: EPP password + TOTP, cookies, CSRF, idle timeout, and failed-login
limits shared with EPP (same ``login_failure`` table, same keys)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from tests.console.conftest import PASSWORD, ConsoleWorld
from tests.fixtures.epp import RunningServer, TlsFiles
from tldsec.console.app import build_app
from tldsec.console.auth import REFUSED, THROTTLED
from tldsec.console.sessions import COOKIE
from tldsec.epp.server import ServerLimits
from tldsec.registry.login_failures import DbFailures


def test_right_password_and_code_log_in_with_strict_cookies(console_any: ConsoleWorld) -> None:
    cw = console_any
    response = cw.log_in()
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/domains"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = cw.client.get("/domains")
    assert page.status_code == 200
    assert "child.example" in page.text
    assert "other.example" not in page.text  # beta's
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert cw.events("console.login") == [("registrar:alpha/alice", {"peer": "127.0.0.1"})]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("code", "000000", "wrong or reused TOTP code"),
        ("password", "wrong-pw", "wrong password"),
        ("user", "mallory", "no such console user"),
        ("client_id", "nobody", "unknown or disabled client id"),
    ],
)
def test_each_wrong_part_is_refused_with_one_message(
    console_world: ConsoleWorld, field: str, value: str, reason: str
) -> None:
    cw = console_world
    if field == "code" and value == cw.code():
        value = "111111"
    response = cw.log_in(**{field: value})
    assert response.status_code == 401
    assert REFUSED in response.text.replace("&#39;", "'")
    assert cw.client.get("/domains", follow_redirects=False).status_code == 303
    (_actor, details), *_ = cw.events("console.login.failed")
    assert details["reason"] == reason


def test_codes_of_neighbouring_steps_pass_and_a_code_is_used_once(
    console_world: ConsoleWorld,
) -> None:
    cw = console_world
    assert cw.log_in(code=cw.code(steps=2)).status_code == 401  # 60 s ahead: too far
    assert cw.log_in(code=cw.code(steps=-1)).status_code == 303  # 30 s drift is fine
    used = cw.code()
    fresh = TestClient(build_app(cw.console), base_url="https://testserver")
    assert cw.log_in(client=fresh, code=used).status_code == 303
    replay = TestClient(build_app(cw.console), base_url="https://testserver")
    assert cw.log_in(client=replay, code=used).status_code == 401  # RFC 6238 5.2
    # An older step than the last one used is refused too.
    assert cw.log_in(client=replay, code=cw.code(steps=-1)).status_code == 401


def test_login_without_its_csrf_token_is_403(console_world: ConsoleWorld) -> None:
    cw = console_world
    data = {"client_id": "alpha", "user": "alice", "password": PASSWORD, "code": cw.code()}
    assert cw.client.post("/login", data=data).status_code == 403
    cw.client.get("/login")  # the cookie is set, but the form field is missing
    assert cw.client.post("/login", data=data).status_code == 403
    assert cw.client.post("/login", data={**data, "csrf": "forged"}).status_code == 403
    assert cw.events("console.login") == []


def test_logout_needs_the_session_csrf_token(console_world: ConsoleWorld) -> None:
    cw = console_world
    cw.log_in()
    assert cw.client.post("/logout", data={}).status_code == 403
    assert cw.client.get("/domains").status_code == 200
    token = cw.csrf("/domains")
    assert (
        cw.client.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    )
    assert cw.client.get("/domains", follow_redirects=False).status_code == 303
    assert [a for a, _ in cw.events("console.logout")] == ["registrar:alpha/alice"]


def test_an_idle_session_ends(console_world: ConsoleWorld) -> None:
    cw = console_world
    cw.log_in()
    cw.world.clock.advance(timedelta(minutes=14))
    assert cw.client.get("/domains").status_code == 200  # activity restarts the idle clock
    cw.world.clock.advance(timedelta(minutes=15, seconds=1))
    response = cw.client.get("/domains", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?expired=1"
    assert len(cw.console.sessions) == 0


def test_a_session_id_planted_before_login_is_never_used(console_world: ConsoleWorld) -> None:
    cw = console_world
    cw.client.cookies.set(COOKIE, "planted-by-an-attacker")
    issued = cw.log_in().cookies[COOKIE]
    assert issued != "planted-by-an-attacker"
    assert len(issued) >= 40
    planted = TestClient(build_app(cw.console), base_url="https://testserver")
    planted.cookies.set(COOKIE, "planted-by-an-attacker")
    assert planted.get("/domains", follow_redirects=False).status_code == 303


def test_failures_at_the_console_lock_epp_out_for_that_pair(
    console_world: ConsoleWorld, tls_files: TlsFiles
) -> None:
    cw = console_world
    server = RunningServer(
        cw.world, tls_files, ServerLimits(workers=2), failures=DbFailures(cw.world.db)
    )
    try:
        for _ in range(5):
            assert cw.log_in(password="wrong-pw").status_code == 401
        with server.client(source="127.0.0.1") as client:
            assert client.login("alpha", PASSWORD).code == 2501
        # The console itself refuses now, even with everything right.
        response = cw.log_in()
        assert response.status_code == 401
        assert THROTTLED in response.text
        assert cw.events("console.login.throttled")
        # Another address is not locked out by these failures (issue 18).
        with server.client(source="127.0.0.2") as client:
            assert client.login("alpha", PASSWORD).code == 1000
    finally:
        server.stop()


def test_failures_at_epp_lock_the_console_out_from_that_address(
    console_world: ConsoleWorld, tls_files: TlsFiles
) -> None:
    cw = console_world
    server = RunningServer(
        cw.world, tls_files, ServerLimits(workers=2), failures=DbFailures(cw.world.db)
    )
    try:
        for _ in range(5):
            with server.client(source="127.0.0.3") as client:
                assert client.login("alpha", "wrong-pw").code == 2200
        attacker_side = TestClient(
            build_app(cw.console), base_url="https://testserver", client=("127.0.0.3", 5000)
        )
        assert cw.log_in(client=attacker_side).status_code == 401
        # The registrar's own address still logs in.
        assert cw.log_in().status_code == 303
    finally:
        server.stop()
