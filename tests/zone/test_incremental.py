"""The incremental zone build: byte-identical to the full build after any changes.

Random registries and random change sequences (made through the registry's own
operations, so every change leaves the zone_change row the registry writes), on SQLite
and on PostgreSQL: after each round of changes the incremental file must equal, byte
for byte, the full build of the same snapshot with the same serial and time.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.fixtures.postgres import ADMIN_URL, _sqlalchemy_url
from tests.fixtures.registry import RegistryWorld, sqlite_world
from tldsec.errors import RegistryError, ZoneContentError
from tldsec.policy import load_policy
from tldsec.registry.context import RegistryRules
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import DomainCreate, create_domain, delete_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.hosts import HostAddr, HostUpdate, create_host, update_host
from tldsec.registry.models import HistoryEntry, ZoneChange
from tldsec.registry.reserved import ReservedNames, reserved_names
from tldsec.settings import ApexSettings
from tldsec.zone.buildinfo import BuildInfo, info_path
from tldsec.zone.incremental import build_zone_file
from tldsec.zone.output import BuildResult

TTL = load_policy().ttl
APEX = ApexSettings(
    ns=("a.nic.example.", "ns.registry-ops.net."),
    glue=(("a.nic.example.", "192.0.2.53"), ("a.nic.example.", "2001:db8::53")),
    soa_mname="a.nic.example.",
    soa_rname="hostmaster.example.",
)
# The builder's rules reserve nic.example (a.nic.example. is an apex name server); the
# registry in these tests does not, so nic.example stands for a row EPP would refuse
# today (registered before, written by a bug) and exercises the quarantine.
RULES = RegistryRules(
    origin="example.",
    ds=load_policy().ds,
    reserved_names=reserved_names("example.", apex_ns=APEX.ns),
)
OPEN_RULES = RegistryRules(origin="example.", ds=load_policy().ds, reserved_names=ReservedNames())
DOMAINS = ("a.example", "b.example", "c.example", "zz.example", "nic.example")
HOSTS = (
    "ns1.a.example",
    "ns2.a.example",
    "ns1.b.example",
    "a.nic.example",
    "ns.ext.net",
    "ns2.ext.net",
)
IN_ZONE = tuple(h for h in HOSTS if h.endswith(".example"))


def ds(tag: int) -> DsData:
    return DsData.of(tag, 13, 2, f"{tag * 7919:064X}")


def addr(k: int) -> HostAddr:
    return HostAddr(f"192.0.2.{k}", 4) if k % 3 else HostAddr(f"2001:db8::{k}", 6)


_domain = st.sampled_from(DOMAINS)
_host = st.sampled_from(HOSTS)
_op = st.one_of(
    st.tuples(st.just("create"), _domain, st.lists(_host, max_size=3, unique=True), st.booleans()),
    st.tuples(st.just("delete"), _domain),
    st.tuples(st.just("add_ns"), _domain, _host),
    st.tuples(st.just("rem_ns"), _domain, _host),
    st.tuples(st.just("ds_add"), _domain, st.integers(1, 6)),
    st.tuples(st.just("ds_rem_all"), _domain),
    st.tuples(st.just("hold"), _domain),
    st.tuples(st.just("unhold"), _domain),
    st.tuples(st.just("host_create"), _host, st.lists(st.integers(1, 9), max_size=2, unique=True)),
    st.tuples(st.just("host_addr"), _host, st.integers(1, 9), st.integers(1, 9)),
    st.tuples(st.just("rename"), st.sampled_from(IN_ZONE), st.sampled_from(IN_ZONE)),
)


def _records(world: RegistryWorld) -> tuple[int, int]:
    """How many zone-change and history rows the registry holds."""
    with world.db.read() as s:
        changes = s.scalar(select(func.count()).select_from(ZoneChange))
        history = s.scalar(select(func.count()).select_from(HistoryEntry))
    return int(changes or 0), int(history or 0)


def apply(world: RegistryWorld, op: tuple[object, ...]) -> bool:
    """Run one registry operation; False if the registry refused it, which must leave
    no zone-change or history row behind (the builder would read it)."""
    kind, *args = op
    tx = world.tx("alpha")
    before = _records(world)
    try:
        with world.db.write() as s:
            if kind == "create":
                name, ns, with_ds = args
                assert isinstance(ns, list)
                create_domain(
                    s,
                    tx,
                    DomainCreate(str(name), "a-1", ns=tuple(ns), ds=(ds(9),) if with_ds else ()),
                )
            elif kind == "delete":
                delete_domain(s, tx, str(args[0]))
            elif kind == "add_ns":
                update_domain(s, tx, DomainUpdate(str(args[0]), add_ns=(str(args[1]),)))
            elif kind == "rem_ns":
                update_domain(s, tx, DomainUpdate(str(args[0]), rem_ns=(str(args[1]),)))
            elif kind == "ds_add":
                update_domain(s, tx, DomainUpdate(str(args[0]), ds_add=(ds(int(str(args[1]))),)))
            elif kind == "ds_rem_all":
                update_domain(s, tx, DomainUpdate(str(args[0]), ds_rem_all=True))
            elif kind == "hold":
                update_domain(s, tx, DomainUpdate(str(args[0]), add_status=("clientHold",)))
            elif kind == "unhold":
                update_domain(s, tx, DomainUpdate(str(args[0]), rem_status=("clientHold",)))
            elif kind == "host_create":
                name, ks = args
                assert isinstance(ks, list)
                in_zone = str(name).endswith(".example")
                create_host(s, tx, str(name), [addr(k) for k in ks] if in_zone else [])
            elif kind == "host_addr":
                name, add, rem = args
                update_host(
                    s,
                    tx,
                    HostUpdate(
                        str(name),
                        add_addr=(addr(int(str(add))),),
                        rem_addr=(addr(int(str(rem))),) if rem != add else (),
                    ),
                )
            elif kind == "rename":
                update_host(s, tx, HostUpdate(str(args[0]), new_name=str(args[1])))
    except RegistryError:
        assert _records(world) == before, f"{op} was refused but left records"
        return False
    return True


@contextlib.contextmanager
def world_on(backend: str, directory: Path) -> Iterator[RegistryWorld]:
    if backend == "sqlite":
        world = sqlite_world(directory)
        try:
            yield world
        finally:
            world.db.dispose()
        return
    name = f"tldsec_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    db = RegistryDatabase.from_url(_sqlalchemy_url(ADMIN_URL, name))
    try:
        db.upgrade()
        yield RegistryWorld(db)
    finally:
        db.dispose()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build(
    world: RegistryWorld, path: Path, serial: int, *, incremental: bool = True
) -> BuildResult | str:
    with world.db.snapshot() as s:
        try:
            return build_zone_file(
                s,
                path,
                zone_id=1,
                origin="example.",
                apex=APEX,
                ttl=TTL,
                rules=RULES,
                serial=serial,
                built_at=world.clock.now(),
                incremental=incremental,
            )
        except ZoneContentError as exc:
            return str(exc)


def check_rounds(
    world: RegistryWorld, directory: Path, rounds: list[list[tuple[object, ...]]]
) -> int:
    """Apply each round, build both ways, compare; return how many were incremental.
    Every round after a successful build must be incremental."""
    world.rules = OPEN_RULES
    world.add_registrar("alpha")
    ours, theirs = directory / "inc.zone", directory / "full.zone"
    incremental = 0
    previous_ok = False
    for serial, ops in enumerate(rounds, start=1):
        for op in ops:
            apply(world, op)
        world.clock.advance(timedelta(seconds=1))
        a = build(world, ours, serial)
        b = build(world, theirs, serial, incremental=False)
        if isinstance(a, str) or isinstance(b, str):
            assert a == b
            continue
        assert a.incremental == previous_ok, a.reason
        previous_ok = True
        assert ours.read_bytes() == theirs.read_bytes(), f"round {serial}: {ops}"
        mine, full = BuildInfo.load(ours), BuildInfo.load(theirs)
        assert mine is not None and full is not None
        assert (mine.orphan_hosts, mine.apex_glue_hosts, mine.last_change_id) == (
            full.orphan_hosts,
            full.apex_glue_hosts,
            full.last_change_id,
        )
        incremental += a.incremental
    return incremental


# Objects for the random operations to work on; every change after it is random.
SETUP: list[tuple[object, ...]] = [
    ("host_create", "ns.ext.net", []),
    ("host_create", "ns2.ext.net", []),
    *(("create", d, ["ns.ext.net"], False) for d in DOMAINS if d != "nic.example"),
    ("create", "nic.example", [], False),
    ("host_create", "ns1.a.example", [1, 3]),
    ("host_create", "ns1.b.example", [2]),
    ("host_create", "a.nic.example", [4]),
]
_rounds = st.lists(st.lists(_op, max_size=8), min_size=1, max_size=5).map(
    lambda rounds: [SETUP, *rounds]
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=_rounds)
def test_incremental_equals_full_on_sqlite(
    tmp_path_factory: pytest.TempPathFactory, rounds: list[list[tuple[object, ...]]]
) -> None:
    directory = tmp_path_factory.mktemp("inc")
    with world_on("sqlite", directory) as world:
        check_rounds(world, directory, rounds)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=_rounds)
def test_incremental_equals_full_on_postgres(
    tmp_path_factory: pytest.TempPathFactory, rounds: list[list[tuple[object, ...]]]
) -> None:
    directory = tmp_path_factory.mktemp("inc")
    with world_on("postgres", directory) as world:
        check_rounds(world, directory, rounds)


SCRIPT: list[list[tuple[object, ...]]] = [
    [
        ("create", "a.example", [], False),
        ("create", "b.example", ["ns.ext.net"], False),
        ("host_create", "ns.ext.net", []),
        ("create", "b.example", ["ns.ext.net"], True),
        ("host_create", "ns1.a.example", [1, 3]),
        ("add_ns", "a.example", "ns1.a.example"),
        ("create", "c.example", ["ns1.a.example"], False),
        ("create", "nic.example", [], False),
        ("host_create", "a.nic.example", [4]),
        ("add_ns", "c.example", "a.nic.example"),
    ],
    [("ds_add", "a.example", 2), ("hold", "b.example")],
    [("rem_ns", "a.example", "ns1.a.example"), ("host_addr", "ns1.a.example", 5, 1)],
    [("add_ns", "a.example", "ns1.a.example"), ("unhold", "b.example")],
    [("rename", "ns1.a.example", "ns2.a.example")],
    [("delete", "a.example")],  # ns2.a.example stays for c.example: orphan glue
    [("ds_rem_all", "b.example"), ("rem_ns", "c.example", "a.nic.example")],
]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_scripted_history_is_built_incrementally(backend: str, tmp_path: Path) -> None:
    """Holds, DS, orphan glue, a rename and apex-owned glue, each round incremental."""
    with world_on(backend, tmp_path) as world:
        assert check_rounds(world, tmp_path, SCRIPT) == len(SCRIPT) - 1
        text = (tmp_path / "inc.zone").read_text()
    assert "ns2.a.example. 86400 IN A 192.0.2.5" in text  # the renamed orphan
    assert "; delegations=2 with_ds=0 glue_hosts=1 orphan_hosts=1" in text


def test_falls_back_to_a_full_build_when_the_file_or_settings_changed(
    registry_world: RegistryWorld, tmp_path: Path
) -> None:
    registry_world.add_registrar("alpha")
    assert apply(registry_world, ("host_create", "ns.ext.net", []))
    assert apply(registry_world, ("create", "a.example", ["ns.ext.net"], False))
    path = tmp_path / "z.zone"
    first = build(registry_world, path, 1)
    assert isinstance(first, BuildResult) and not first.incremental
    assert "no previous zone file" in first.reason
    second = build(registry_world, path, 2)
    assert isinstance(second, BuildResult) and second.incremental
    path.write_bytes(path.read_bytes().replace(b"a.example.", b"b.example."))
    third = build(registry_world, path, 3)
    assert isinstance(third, BuildResult) and not third.incremental
    assert "does not match its build record" in third.reason
    with registry_world.db.snapshot() as s:
        other = build_zone_file(
            s,
            path,
            zone_id=1,
            origin="example.",
            apex=APEX,
            ttl=replace(TTL, ds=3600),
            rules=RULES,
            serial=4,
            built_at=registry_world.clock.now(),
        )
    assert not other.incremental and "TTLs or registry rules changed" in other.reason
    info_path(path).unlink()
    fourth = build(registry_world, path, 5)
    assert isinstance(fourth, BuildResult) and not fourth.incremental


def test_too_many_changed_names_fall_back(registry_world: RegistryWorld, tmp_path: Path) -> None:
    registry_world.add_registrar("alpha")
    path = tmp_path / "z.zone"
    assert isinstance(build(registry_world, path, 1), BuildResult)
    assert apply(registry_world, ("host_create", "ns.ext.net", []))
    for name in ("a.example", "b.example", "c.example"):
        assert apply(registry_world, ("create", name, ["ns.ext.net"], False))
    with registry_world.db.snapshot() as s:
        result = build_zone_file(
            s,
            path,
            zone_id=1,
            origin="example.",
            apex=APEX,
            ttl=TTL,
            rules=RULES,
            serial=2,
            built_at=registry_world.clock.now(),
            max_names=2,
        )
    assert not result.incremental and "3 names changed" in result.reason
    assert result.delegations == 3


def test_a_change_committed_after_a_later_one_is_not_missed(
    postgres_url: str, tmp_path: Path
) -> None:
    """PostgreSQL hands out zone_change ids before commit: a build can see id n+1 and
    not n. The build record keeps n, and the next build reads it."""
    db = RegistryDatabase.from_url(postgres_url)
    db.upgrade()
    world = RegistryWorld(db)
    try:
        world.add_registrar("alpha")
        assert apply(world, ("host_create", "ns.ext.net", []))
        assert apply(world, ("create", "a.example", ["ns.ext.net"], False))
        assert apply(world, ("create", "b.example", ["ns.ext.net"], False))
        path, full = tmp_path / "inc.zone", tmp_path / "full.zone"
        assert isinstance(build(world, path, 1), BuildResult)
        with contextlib.ExitStack() as slow:
            s = slow.enter_context(world.db.write())
            update_domain(s, world.tx("alpha"), DomainUpdate("a.example", ds_add=(ds(1),)))
            s.flush()  # its zone_change id is taken, not yet visible
            assert apply(world, ("ds_add", "b.example", 2))  # a later id, committed first
            second = build(world, path, 2)
            assert isinstance(second, BuildResult) and second.incremental
            info = BuildInfo.load(path)
            assert info is not None and len(info.unsettled) == 1
            assert second.signed_delegations == 1
        third = build(world, path, 3)
        assert isinstance(third, BuildResult) and third.incremental
        assert third.signed_delegations == 2
        build(world, full, 3, incremental=False)
        assert path.read_bytes() == full.read_bytes()
        info = BuildInfo.load(path)
        assert info is not None and info.unsettled == {}
    finally:
        db.dispose()
