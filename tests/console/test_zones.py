"""The console in a registry of two zones (issue 19 item 2, decision 69): alpha is
accredited for example. and shop., beta for example. only. A session sees the zones its
registrar's accreditation has begun for, selects one (default the first), lists that
zone's domains; a DS change is routed as EPP's domain:update is (2201 with the reason
where the registrar may not change), on SQLite and PostgreSQL; and ``build_console``
serves a home of ``[zones.example]`` and ``[zones.shop]``."""

from __future__ import annotations

import html
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.console.conftest import DOMAIN, PASSWORD, ConsoleWorld, make_console_world
from tests.fixtures.registry import START, RegistryWorld, sqlite_world
from tldsec.console.totp import code_at, enrol
from tldsec.policy import load_policy
from tldsec.registry import accreditation
from tldsec.registry.context import RegistryRules
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.models import DsRecord, Zone, ZoneChange
from tldsec.registry.routing import ZoneRoutes, load_routes

SHOP_DOMAIN = "a.shop"
GOOD = DsData.of(12345, 13, 2, "2BB183AF5F22588179A53B0A98631FAD1A292118B4F6F6F7A6A2B4E1A38D7D84")
_ERROR = re.compile(r'<p class="error" role="alert"[^>]*>(.*?)</p>', re.S)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class TwoZones:
    cw: ConsoleWorld
    routes: ZoneRoutes
    ids: dict[str, int]
    bob_secret: str
    url: str = ""  # where it is served (the browser test)

    def log_in_beta(self, client: TestClient) -> int:
        code = code_at(self.bob_secret, self.cw.world.clock.now())
        response = self.cw.log_in(client=client, client_id="beta", user="bob", code=code)
        return int(response.status_code)


def make_two_zones(world: RegistryWorld, tmp: Path) -> TwoZones:
    with world.db.write() as s:  # what 'tldsec zone add' writes, before any domain
        zones = [Zone(origin=o, added_at=START - timedelta(days=9)) for o in ("example.", "shop.")]
        s.add_all(zones)
        s.flush()
        ids = {z.origin: z.id for z in zones}
    cw = make_console_world(world, tmp)  # alpha: child.example, beta: other.example
    ds = load_policy().ds
    rules = {o: RegistryRules(origin=o, ds=ds) for o in ids}
    with world.db.read() as s:
        routes = load_routes(s, rules)  # what build_console does at start
    assert routes is not None
    with world.db.write() as s:
        tx = world.tx()
        accreditation.accredit(s, tx, "alpha", "example.", START - timedelta(days=1))
        accreditation.accredit(s, tx, "alpha", "shop.", START - timedelta(days=1))
        accreditation.accredit(s, tx, "beta", "example.", START - timedelta(days=1))
        shop = replace(world.tx("alpha"), rules=routes.routes["shop."].rules)
        create_domain(s, shop, DomainCreate(SHOP_DOMAIN, "auth-3"))
        bob = enrol(s, world.tx(), cw.key, "beta", "bob").secret
    cw.console.routes = routes
    cw.console.changer = replace(cw.console.changer, routes=routes)
    return TwoZones(cw, routes, ids, bob)


@pytest.fixture(params=["sqlite", "postgres"])
def two_zones(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TwoZones]:
    if request.param == "sqlite":
        world = sqlite_world(tmp_path)
    else:
        db = RegistryDatabase.from_url(request.getfixturevalue("postgres_url"))
        db.upgrade()
        world = RegistryWorld(db)
    tz = make_two_zones(world, tmp_path)
    with tz.cw.client:
        yield tz
    world.db.dispose()


def listed(page: str) -> list[str]:
    return re.findall(r'<a href="/domains/([^"]+)">', page)


def options(page: str) -> list[tuple[str, bool]]:
    return [
        (value, bool(selected))
        for value, selected in re.findall(r'<option value="([^"]+)"( selected)?>', page)
    ]


def add_ds(client: TestClient, domain: str) -> tuple[int, str]:
    page = client.get(f"/domains/{domain}")
    token = _CSRF.search(page.text)
    csrf = token.group(1) if token else ""
    response = client.post(
        f"/domains/{domain}/ds/add",
        data={"csrf": csrf, "line": f"{domain}. 3600 IN DS {GOOD}"},
        follow_redirects=False,
    )
    return response.status_code, response.text


def test_a_registrar_of_two_zones_selects_one(two_zones: TwoZones) -> None:
    cw, ids = two_zones.cw, two_zones.ids
    assert cw.log_in().status_code == 303
    page = cw.client.get("/domains").text
    # Default: its first zone; the selector offers both.
    assert options(page) == [("example.", True), ("shop.", False)]
    assert ".example registrar console" in page and "Your domains in .example" in page
    assert listed(page) == [DOMAIN]
    page = cw.client.get("/domains", params={"zone": "shop"}).text
    assert options(page) == [("example.", False), ("shop.", True)]
    assert listed(page) == [SHOP_DOMAIN]
    assert listed(cw.client.get("/domains").text) == [SHOP_DOMAIN]  # the choice is kept

    status, text = add_ds(cw.client, SHOP_DOMAIN)
    assert status == 303, text
    with cw.world.db.read() as s:
        change = s.scalars(select(ZoneChange).where(ZoneChange.name == SHOP_DOMAIN)).all()[-1]
        assert change.zone_id == ids["shop."]
    accepted = [d for e, _, d in cw.audited if e == "ds.accepted"]
    assert [d.get("zone") for d in accepted] == ["shop."]
    # A domain page shows its own zone: child.example's switches the selector back.
    assert options(cw.client.get(f"/domains/{DOMAIN}").text)[0] == ("example.", True)


def test_a_registrar_of_one_zone_is_refused_the_other_with_the_reason(
    two_zones: TwoZones,
) -> None:
    cw = two_zones.cw
    assert two_zones.log_in_beta(cw.client) == 303
    page = cw.client.get("/domains").text
    assert 'id="zone"' not in page  # one zone: nothing to select
    assert ".example registrar console" in page
    assert listed(page) == ["other.example"]

    refused = cw.client.get("/domains", params={"zone": "shop."})
    assert refused.status_code == 403
    assert "registrar beta is not accredited for 'shop.' (its zones: example.)" in refused.text
    page_of_shop = cw.client.get(f"/domains/{SHOP_DOMAIN}")
    assert page_of_shop.status_code == 403
    assert "registrar beta is not accredited for shop." in html.unescape(page_of_shop.text)
    token = _CSRF.search(cw.client.get("/domains").text)
    assert token
    posted = cw.client.post(
        f"/domains/{SHOP_DOMAIN}/ds/add",
        data={"csrf": token.group(1), "line": f"{SHOP_DOMAIN}. 3600 IN DS {GOOD}"},
        follow_redirects=False,
    )
    assert posted.status_code == 403
    assert "not accredited for shop." in html.unescape(posted.text)
    with cw.world.db.read() as s:
        assert s.scalars(select(DsRecord)).all() == []


def test_an_ended_accreditation_shows_the_zone_and_refuses_a_change(
    two_zones: TwoZones,
) -> None:
    cw = two_zones.cw
    with cw.world.db.write() as s:
        accreditation.revoke(s, cw.world.tx(), "alpha", "shop.", cw.world.clock.now())
    cw.world.clock.advance(timedelta(seconds=30))
    assert cw.log_in().status_code == 303  # accreditations are read at login
    page = cw.client.get("/domains", params={"zone": "shop."}).text
    assert (
        f"shop (accreditation ended {cw.world.clock.now():%Y-%m-%d})" in page
    )  # the selector says why changes are refused
    assert listed(page) == [SHOP_DOMAIN]
    status, text = add_ds(cw.client, SHOP_DOMAIN)
    assert status == 422
    (error,) = [html.unescape(m) for m in _ERROR.findall(text)]
    assert "registrar alpha's accreditation for shop. ended on" in error
    assert error.endswith("(EPP 2201)")
    with cw.world.db.read() as s:
        assert s.scalars(select(DsRecord)).all() == []
    assert [e for e, _, _ in cw.audited if e.startswith("ds.")] == [
        "ds.received",
        "ds.rejected",
    ]
    # Its other zone is unaffected.
    status, text = add_ds(cw.client, DOMAIN)
    assert status == 303, text


def test_build_console_serves_a_home_of_two_zones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tldsec console serve``'s console for a home of ``[zones.example]`` and
    ``[zones.shop]`` (it needed the home's one origin before): routes by zone."""
    from tldsec.cli.main import main
    from tldsec.clock import SystemClock
    from tldsec.console.server import build_console
    from tldsec.epp.tlscert import make_self_signed
    from tldsec.settings import load_settings

    home = tmp_path / "multi"
    home.mkdir()
    (home / "tldsec.toml").write_text(
        '[zones.example]\n[zones.shop]\n[audit]\nkey_backend = "file"\n'
    )
    make_self_signed(home / "epp-cert.pem", home / "epp-key.pem", "localhost")
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    h = ["--home", str(home)]
    assert main(["db", "upgrade", "--create", *h]) == 0
    with sqlite3.connect(home / "registry.db") as conn:  # as 'tldsec zone add' writes
        for origin in ("example.", "shop."):
            conn.execute(
                "INSERT INTO zone (origin, added_at) VALUES (?, '2026-01-01 00:00')", (origin,)
            )
    assert main(["registrar", "add", "alpha", "--password-file", str(tmp_path / "pw"), *h]) == 0
    assert main(["registrar", "accredit", "alpha", "shop.", *h]) == 0
    assert main(["registrar", "totp", "alpha", "--user", "alice", *h]) == 0
    capsys.readouterr()
    parts = build_console(load_settings(home), SystemClock())
    try:
        console = parts.console
        assert console.routes is not None
        assert sorted(console.routes.routes) == ["example.", "shop."]
        assert console.changer.routes is console.routes
        assert sorted(console.live_by_zone) == ["example.", "shop."]
        assert console.live_by_zone["shop."].cycle_state == home / "zones" / "shop" / "cycle.json"
    finally:
        parts.close()
