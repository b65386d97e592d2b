"""tldsec homes for cycle tests: ``tldsec init`` + ``tldsec db upgrade`` on a temporary
directory, a registry seeded with a registrar and delegations, and DS changes made the
way the registry services make them (a history row and a zone-change row each)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tldsec.clock import FakeClock, SystemClock
from tldsec.cycle import Cycle, open_cycle
from tldsec.policy import load_policy
from tldsec.registry import registrars
from tldsec.registry.context import Actor, RegistryRules, Tx
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.hosts import create_host
from tldsec.registry.passwords import fast_hasher
from tldsec.settings import load_settings
from tldsec.zonehome import ZoneHome

ORIGIN = "example."
REGISTRAR = "alpha"
PASSWORD = "secret-pw-1"
NS = ("ns1.hoster.net", "ns2.hoster.net")


def tldsec(
    *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the ``tldsec`` command in a process of its own (its own PKCS#11 state)."""
    out = subprocess.run(
        [sys.executable, "-m", "tldsec.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and out.returncode != 0:
        raise AssertionError(f"tldsec {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out


def make_home(home: Path, *, keystore: str = "file", extra: str = "", zone: str = "") -> Path:
    """A fresh home: config, key store with the first keys, migrated databases.
    ``zone`` adds lines to the ``[zone]`` table, ``extra`` tables at the end."""
    tldsec("init", "--home", str(home), "--origin", ORIGIN, "--keystore", keystore)
    if zone:
        config = home / "tldsec.toml"
        text = config.read_text("utf-8")
        head = f'origin = "{ORIGIN}"\n'
        assert head in text
        config.write_text(text.replace(head, head + zone.strip() + "\n", 1))
    if extra:
        with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
            f.write("\n" + extra.strip() + "\n")
    tldsec("db", "upgrade", "--home", str(home))
    return home


def zone_home(home: Path, origin: str = ORIGIN) -> ZoneHome:
    """The zone's own directory in ``home`` (decision 57): its cycle files and store."""
    return ZoneHome(home / "zones", origin)


def ds_for(i: int) -> DsData:
    return DsData.of(10000 + i, 13, 2, f"{i * 7919 + 1:064X}")


class Registry:
    """The home's registry database, acted on by the registry operator and one registrar."""

    def __init__(self, home: Path) -> None:
        self.db = RegistryDatabase.from_url(f"sqlite:///{home / 'registry.db'}")
        self.rules = RegistryRules(origin=ORIGIN, ds=load_policy().ds)
        self._actor: Actor | None = None

    def close(self) -> None:
        self.db.dispose()

    def tx(self, actor: Actor) -> Tx:
        return Tx(
            actor=actor,
            now=SystemClock().now(),
            sv_trid="test",
            rules=self.rules,
            hasher=fast_hasher(),
        )

    @property
    def registrar(self) -> Actor:
        assert self._actor is not None, "seed() first"
        return self._actor

    def seed(self, domains: int, *, ds_every: int = 5) -> None:
        """A registrar, two out-of-zone name servers, ``domains`` delegations, some with DS."""
        with self.db.write() as s:
            registrars.add_registrar(
                s, self.tx(Actor.registry()), REGISTRAR, PASSWORD, email="ops@alpha.test"
            )
            self._actor = Actor(REGISTRAR, registrars.get_registrar(s, REGISTRAR).id)
            for host in NS:
                create_host(s, self.tx(self.registrar), host)
            for i in range(domains):
                ds = (ds_for(i),) if ds_every and i % ds_every == 0 else ()
                create_domain(
                    s,
                    self.tx(self.registrar),
                    DomainCreate(f"dom{i}.example", "auth-1", ns=NS, ds=ds),
                )

    def attach(self) -> None:
        """Act as the registrar of an already seeded registry."""
        with self.db.read() as s:
            self._actor = Actor(REGISTRAR, registrars.get_registrar(s, REGISTRAR).id)

    def add_ds(self, name: str, ds: DsData) -> None:
        with self.db.write() as s:
            update_domain(s, self.tx(self.registrar), DomainUpdate(name, ds_add=(ds,)))

    def remove_ds(self, name: str, ds: DsData) -> None:
        with self.db.write() as s:
            update_domain(s, self.tx(self.registrar), DomainUpdate(name, ds_rem=(ds,)))


# A cycle without the external validators and with one signing worker: quick enough to
# run many times in a test.
FAST_CYCLE = """
[verify]
external = []
second_sample = 50
[cycle]
workers = 1
"""


def seeded_home(directory: Path, domains: int) -> Path:
    """A home whose registry holds ``domains`` delegations: a template for tests to copy
    (``copy_home``), since init and seeding take a while."""
    home = make_home(directory / "home", extra=FAST_CYCLE)
    registry = Registry(home)
    registry.seed(domains)
    registry.close()
    return home


def copy_home(template: Path, directory: Path) -> Path:
    return Path(shutil.copytree(template, directory / "home", symlinks=True))


@contextmanager
def attached(home: Path) -> Iterator[Registry]:
    """The registry of a seeded home, acting as its registrar."""
    registry = Registry(home)
    registry.attach()
    try:
        yield registry
    finally:
        registry.close()


def audit_events(home: Path) -> list[str]:
    with sqlite3.connect(home / "audit.db") as conn:
        return [row[0] for row in conn.execute("SELECT event FROM audit_entries ORDER BY seq")]


def seeded_home_fixtures(domains: int) -> tuple[object, object, object]:
    """The ``template``, ``home`` and ``registry`` fixtures of a test module whose tests
    each start from a home seeded with ``domains`` delegations: one module-scoped
    seeded template (init and seeding take a while), copied for each test, with its
    registry attached. Use as ``template, home, registry = seeded_home_fixtures(30)``."""

    @pytest.fixture(scope="module", name="template")
    def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return seeded_home(tmp_path_factory.mktemp("template"), domains)

    @pytest.fixture(name="home")
    def home(template: Path, tmp_path: Path) -> Path:
        return copy_home(template, tmp_path)

    @pytest.fixture(name="registry")
    def registry(home: Path) -> Iterator[Registry]:
        with attached(home) as r:
            yield r

    return template, home, registry


@pytest.fixture(name="cycle")
def fake_clock_cycle(home: Path) -> Iterator[Cycle]:
    """A cycle on ``home`` with a fake clock set to now (import it as ``cycle``)."""
    with open_cycle(load_settings(home), FakeClock(SystemClock().now())) as c:
        yield c
