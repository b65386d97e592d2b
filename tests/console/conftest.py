"""A console over a migrated registry (SQLite, or PostgreSQL with ``console_any``): one
registrar ``alpha`` with console user ``alice`` enrolled, one domain ``child.example``
delegated to an out-of-TLD name server, a fake clock, the audit events it records, and
Starlette's TestClient over https://testserver (Secure cookies need https)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.fixtures.registry import RegistryWorld, sqlite_world
from tldsec.console.actions import DsChanger
from tldsec.console.app import Console, build_app
from tldsec.console.auth import LoginService
from tldsec.console.live import LiveSource
from tldsec.console.sessions import SessionStore
from tldsec.console.totp import TotpKey, code_at, enrol
from tldsec.epp.login import LoginGate
from tldsec.registry.advisory import Advisor
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.hosts import create_host
from tldsec.registry.login_failures import DbFailures
from tldsec.registry.passwords import fast_hasher

PASSWORD = "secret-pw"
DOMAIN = "child.example"
NS = "ns1.dns-host.test"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class ConsoleWorld:
    world: RegistryWorld
    console: Console
    client: TestClient
    secret: str
    key: TotpKey
    audited: list[tuple[str, str, dict[str, object]]] = field(default_factory=list)
    tmp: Path = Path()

    def code(self, steps: int = 0) -> str:
        when = self.world.clock.now() + timedelta(seconds=30 * steps)
        return code_at(self.secret, when)

    def csrf(self, path: str) -> str:
        page = self.client.get(path)
        found = _CSRF.search(page.text)
        assert found, f"no CSRF token on {path}: {page.status_code} {page.text[:200]}"
        return found.group(1)

    def log_in(
        self,
        *,
        client: TestClient | None = None,
        password: str = PASSWORD,
        code: str | None = None,
        user: str = "alice",
        client_id: str = "alpha",
    ) -> Any:
        client = client or self.client
        page = client.get("/login")
        token = _CSRF.search(page.text)
        assert token
        return client.post(
            "/login",
            data={
                "csrf": token.group(1),
                "client_id": client_id,
                "user": user,
                "password": password,
                "code": self.code() if code is None else code,
            },
            follow_redirects=False,
        )

    def events(self, name: str) -> list[tuple[str, dict[str, object]]]:
        return [(actor, details) for event, actor, details in self.audited if event == name]


def make_console_world(
    world: RegistryWorld, tmp: Path, client_host: str = "127.0.0.1"
) -> ConsoleWorld:
    world.add_registrar("alpha", PASSWORD)
    world.add_registrar("beta", PASSWORD)
    key = TotpKey.load(tmp / "console-totp.key", create=True)
    with world.db.write() as s:
        secret = enrol(s, world.tx(), key, "alpha", "alice").secret
        create_host(s, world.tx("alpha"), NS)
        create_domain(s, world.tx("alpha"), DomainCreate(DOMAIN, "auth-1", ns=(NS,)))
        create_domain(s, world.tx("beta"), DomainCreate("other.example", "auth-2"))
    audited: list[tuple[str, str, dict[str, object]]] = []

    def audit(event: str, *, actor: str, **details: object) -> None:
        audited.append((event, actor, details))

    gate = LoginGate(world.clock, failures=DbFailures(world.db))
    console = Console(
        db=world.db,
        login=LoginService(world.db, gate, fast_hasher(), key, world.clock, audit),
        changer=DsChanger(world.db, world.rules, fast_hasher(), world.clock, audit),
        sessions=SessionStore(world.clock, timedelta(minutes=15)),
        # Nothing answers on the discard port: the advice is "could not check".
        advisor=Advisor(timeout=0.3, port=9, resolver=("127.0.0.1", 9)),
        clock=world.clock,
        audit=audit,
        origin=world.rules.origin,
        digest_types=(2, 4),
        live=LiveSource(tmp / "zones" / "cycle.json", tmp / "dist", world.rules.origin),
        page_size=3,
    )
    client = TestClient(
        build_app(console), base_url="https://testserver", client=(client_host, 50000)
    )
    return ConsoleWorld(world, console, client, secret, key, audited, tmp)


@pytest.fixture
def console_world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    world = sqlite_world(tmp_path)
    cw = make_console_world(world, tmp_path)
    with cw.client:
        yield cw
    world.db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def console_any(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConsoleWorld]:
    if request.param == "sqlite":
        world = sqlite_world(tmp_path)
    else:
        db = RegistryDatabase.from_url(request.getfixturevalue("postgres_url"))
        db.upgrade()
        world = RegistryWorld(db)
    cw = make_console_world(world, tmp_path)
    with cw.client:
        yield cw
    world.db.dispose()
