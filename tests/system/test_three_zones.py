"""Three TLDs in one home, end to end (issue 19): one ``tldsec serve`` (one EPP server,
one SoftHSM2 token, one registry, one audit log) runs example., shop. and web.

The zones are added as an operator adds them (``zone add``), two registrars are
accredited to different pairs of them, and over real EPP (TLS) each creates domains
with DS in its zones and is refused in the others (2201) and outside every zone (2306).
Each zone's cycle signs and verifies its own delegations only; the primary serves all
three (the DS answered signed) and ``ldns-verify-zone`` accepts each zone's file. Then a
change that the collapse guard holds in shop. does not delay example.'s next serial.
Run on the registry in SQLite and in PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.distribute.homes import tldsec
from tests.distribute.nameservers import free_port
from tests.fixtures.postgres import create_database, drop_database
from tldsec.epp.client import EppClient
from tldsec.epp.tls import client_context
from tldsec.registry.ds_rules import DsData
from tldsec.settings import load_settings
from tldsec.zonehome import ZoneHome

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ldns-verify-zone") is None, reason="ldnsutils missing"),
]

ZONES = ("example.", "shop.", "web.")
PASSWORD = "three-zones-pw-1"
# Who may register where: alpha in example. and shop., beta in shop. and web.
ACCREDITED = {"alpha": ("example.", "shop."), "beta": ("shop.", "web.")}


def ds(tag: int) -> DsData:
    return DsData.of(tag, 13, 2, f"{tag:08X}" * 8)


@dataclass
class Running:
    home: Path
    serve: subprocess.Popen[str]
    dns_port: int
    epp_port: int
    health_port: int

    def health(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.health_port}/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return dict(json.loads(r.read()))
        except urllib.error.HTTPError as exc:
            return dict(json.loads(exc.read()))

    def serials(self) -> dict[str, int | None]:
        zones = self.health().get("zones") or {}
        return {o: z.get("serial") for o, z in zones.items()}

    def epp(self, registrar: str) -> EppClient:
        client = EppClient("127.0.0.1", self.epp_port, client_context(self.home / "epp-cert.pem"))
        client.connect()
        assert client.login(registrar, PASSWORD).code == 1000
        return client

    def wait(self, ready: object, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.serve.poll() is not None:
                raise AssertionError(f"tldsec serve exited while waiting for {what}")
            try:
                if ready():  # type: ignore[operator]
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}: {self.health()}")


def _three_zone_home(home: Path, health_port: int, registry_url: str | None) -> None:
    """A one-zone home made by ``tldsec init`` grown to three zones as an operator grows
    it: the zones' tables written into tldsec.toml, then ``tldsec zone add`` each, then
    two registrars accredited to different pairs of zones."""
    h = ("--home", str(home))
    tldsec("init", *h, "--origin", "example", "--keystore", "pkcs11")
    config = home / "tldsec.toml"
    if registry_url is not None:
        with open(config, "a", encoding="utf-8") as f:
            f.write(f'\n[database]\nregistry_url = "{registry_url}"\n')
    tldsec("db", "upgrade", *h)  # zone 1, example., in the registry where it lives
    text = config.read_text("utf-8")
    assert '[zone]\norigin = "example."\n' in text
    config.write_text(
        text.replace('[zone]\norigin = "example."\n', _zone_tables(), 1)
        + _service_tables(health_port)
    )
    policy = home / "policy.toml"  # a one-second debounce: the test need not wait 30 s
    policy.write_text(
        policy.read_text("utf-8").replace("debounce_seconds = 30", "debounce_seconds = 1")
    )
    for origin in ZONES[1:]:
        tldsec("zone", "add", origin, *h)
    password = home.parent / "registrar-password"
    password.write_text(PASSWORD + "\n")
    for registrar, zones in ACCREDITED.items():
        tldsec("registrar", "add", registrar, *h, "--password-file", str(password),
               "--email", f"ops@{registrar}.example.net")  # fmt: skip
        for origin in zones:
            tldsec("registrar", "accredit", registrar, origin, *h)


def _zone_tables() -> str:
    return "".join(
        f'[zones.{o.rstrip(".")}]\napex_ns = ["a.nic.{o}"]\n'
        f'apex_glue = {{ "a.nic.{o}" = ["127.0.0.1"] }}\n\n'
        for o in ZONES
    )


def _service_tables(health_port: int) -> str:
    return f"""
[distribute]
keep = 5
poll_seconds = 0.2

[[distribute.secondaries]]
name = "loopback"
allow = ["127.0.0.1"]

[verify]
second_sample = 200

[cycle]
check_seconds = 0.3
workers = 1

[serve]
health_listen = "127.0.0.1:{health_port}"
"""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    registry_url, database = create_database() if request.param == "postgresql" else (None, None)
    base = tmp_path_factory.mktemp(f"three-{request.param}")
    home = base / "home"
    dns_port, epp_port, health_port = (free_port() for _ in range(3))
    serve: subprocess.Popen[str] | None = None
    try:
        _three_zone_home(home, health_port, registry_url)
        serve = subprocess.Popen(
            [sys.executable, "-m", "tldsec.cli.main", "serve", "--home", str(home),
             "--dns-listen", f"127.0.0.1:{dns_port}", "--epp-listen", f"127.0.0.1:{epp_port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        r = Running(home, serve, dns_port, epp_port, health_port)
        r.wait(lambda: all(r.serials().get(o) for o in ZONES), "every zone's first serial")
        yield r
    finally:
        if serve is not None:
            serve.send_signal(signal.SIGINT)
            try:
                out, _ = serve.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                serve.kill()
                out, _ = serve.communicate()
            print(out[-8000:])
        if database is not None:
            drop_database(database)
    assert serve.returncode == 0, out[-5000:]


def axfr(r: Running, origin: str) -> str:
    return subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(r.dns_port), "+tcp", origin, "AXFR"],
        capture_output=True, text=True, check=True, timeout=20,
    ).stdout  # fmt: skip


def served_ds(r: Running, origin: str, owner: str, tag: int) -> bool:
    """Whether the primary's copy of ``origin`` has ``owner``'s DS of ``tag``, signed."""
    lines = [line.split() for line in axfr(r, origin).splitlines() if line.startswith(owner + "\t")]
    has_ds = any(f[3] == "DS" and f[4] == str(tag) for f in lines if len(f) > 4)
    signed = any(f[3] == "RRSIG" and f[4] == "DS" for f in lines if len(f) > 4)
    return has_ds and signed


def test_registrars_work_in_their_zones_and_each_zone_is_served_signed(running: Running) -> None:
    r = running
    with r.epp("alpha") as alpha:
        assert alpha.host_create("ns1.alpha-dns.net").code == 1000  # outside every zone
        ns = ("ns1.alpha-dns.net",)
        assert alpha.domain_create("a.example", ns=ns, ds=(ds(1001),)).code == 1000
        assert alpha.domain_create("a.shop", ns=ns, ds=(ds(1002),)).code == 1000
        refused = alpha.domain_create("a.web", ns=ns)
        assert refused.code == 2201 and "not accredited for web." in refused.message
        outside = alpha.domain_create("a.org")
        assert outside.code == 2306 and "not under a TLD of this registry" in outside.message
    with r.epp("beta") as beta:  # one login serves both of beta's zones
        assert beta.host_create("ns1.beta-dns.net").code == 1000
        assert beta.domain_create("b.shop", ns=("ns1.beta-dns.net",)).code == 1000
        assert beta.domain_create("b.web", ns=("ns1.beta-dns.net",), ds=(ds(1003),)).code == 1000
        assert beta.domain_create("b.example").code == 2201
        assert beta.domain_info("a.example").code == 2201  # not its zone: not even info

    r.wait(lambda: served_ds(r, "example.", "a.example.", 1001), "example.'s DS served")
    r.wait(lambda: served_ds(r, "shop.", "a.shop.", 1002), "shop.'s DS served")
    r.wait(lambda: served_ds(r, "web.", "b.web.", 1003), "web.'s DS served")

    settings = load_settings(r.home)
    for origin in ZONES:
        zone = settings.for_zone(origin)
        names = {line.split()[0] for line in axfr(r, origin).splitlines()
                 if line and not line.startswith(";")}  # fmt: skip
        assert all(n == origin or n.endswith("." + origin) for n in names), (origin, names)
        current = (ZoneHome(settings.zones_dir, origin).dist / "current").read_text().strip()
        path = ZoneHome(settings.zones_dir, origin).dist / f"{current}.zone"
        checked = subprocess.run(["ldns-verify-zone", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, (origin, checked.stdout, checked.stderr)
        assert zone.zone_dir == ZoneHome(settings.zones_dir, origin).root
    assert "b.shop." in axfr(r, "shop.") and "a.example." not in axfr(r, "shop.")

    listed = json.loads(tldsec("zone", "list", "--home", str(r.home), "--json").stdout)
    assert list(listed["zones"]) == list(ZONES), listed
    serials = r.serials()
    # the registry's last serial of each zone: the one served, or one a later cycle took
    assert all(listed["zones"][o]["serial"] >= serials[o] for o in ZONES), (listed, serials)
    assert r.health()["status"] == "ok", r.health()


def test_a_held_change_in_one_zone_does_not_delay_another(running: Running) -> None:
    r = running
    r.wait(lambda: served_ds(r, "shop.", "a.shop.", 1002), "shop.'s DS served")
    before = r.serials()
    with r.epp("alpha") as alpha:
        # shop.'s only DS RRset removed: down to none, which the collapse guard holds
        assert alpha.domain_update_ds("a.shop", remove_all=True).code == 1000
        assert alpha.domain_update_ds("a.example", add=(ds(2001),)).code == 1000
    r.wait(lambda: served_ds(r, "example.", "a.example.", 2001), "example.'s new DS served")
    r.wait(
        lambda: any(f.startswith("shop.: ") for f in r.health()["faults"]),
        "shop.'s held cycle in /health",
    )
    health = r.health()
    after = r.serials()
    assert after["example."] != before["example."]
    assert after["shop."] == before["shop."], (before, after)  # held: the last zone stays
    assert served_ds(r, "shop.", "a.shop.", 1002)
    zones = health["zones"]
    assert zones["shop."]["faults"] and not zones["example."]["faults"], zones
    assert not zones["web."]["faults"], zones
