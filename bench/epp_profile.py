"""Server CPU per EPP ``domain:update`` (secDNS add/rem), without TLS or a client.

Drives the server's ``Dispatcher`` directly, in one thread, on a fresh PostgreSQL
database: the same frames ``bench/epp_bench.py`` sends, N times, alternating add and
rem of one DS. Prints milliseconds per transform (wall and process CPU) and, with
``--profile``, the top of a cProfile by cumulative and by own time. With ``--audit`` the
DS-change audit entries go to a real audit log on PostgreSQL (as ``tldsec serve`` wires
it), so its cost shows. With ``--zones`` the registry has its zone row (``example.``,
as every home's since decision 60) and the dispatcher routes by it (decision 61): the
name's zone found in memory, the registrar's accreditation read at its login.

    .venv/bin/python bench/epp_profile.py [-n 2000] [--profile] [--audit] [--zones]

With ``--profile``, ``PROF_SORT=tottime`` (or ``ncalls``) sorts the first table by that
instead of cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tldsec.clock import SystemClock
from tldsec.db import pgwire
from tldsec.epp.client import ds_xml
from tldsec.epp.dispatch import Connection, Dispatcher
from tldsec.epp.login import LoginGate
from tldsec.epp.xml.codec import DOMAIN, EPP, HOST, SECDNS
from tldsec.policy import load_policy
from tldsec.registry import ds_update, registrars
from tldsec.registry.context import Actor, RegistryRules, Tx
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.ds_rules import DsData
from tldsec.registry.passwords import fast_hasher

ADMIN = os.environ.get("TLDSEC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "bench-pw-1"


@contextmanager
def database() -> Iterator[str]:
    """A fresh PostgreSQL database (SQLAlchemy URL), dropped afterwards."""
    name = f"tldsec_prof_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def frame(body: str, extension: str = "", trid: int = 0) -> bytes:
    ext = f"<extension>{extension}</extension>" if extension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><epp xmlns="{EPP}"><command>{body}{ext}'
        f"<clTRID>cl-{trid}</clTRID></command></epp>"
    ).encode()


def update_frame(name: str, ds: DsData, add: bool, trid: int) -> bytes:
    part = "add" if add else "rem"
    return frame(
        f'<update><domain:update xmlns:domain="{DOMAIN}"><domain:name>{name}'
        f"</domain:name></domain:update></update>",
        f'<secDNS:update xmlns:secDNS="{SECDNS}"><secDNS:{part}>{ds_xml((ds,))}'
        f"</secDNS:{part}></secDNS:update>",
        trid,
    )


class Counter:
    """Statements and round trips per database, while ``on``: SQLAlchemy's cursor
    executions (each its own round trip) and the libpq pipelines of ``db/pgwire.py``
    (one round trip each, one statement per step)."""

    def __init__(self) -> None:
        self.on = False
        self.statements: dict[str, int] = {}
        self.round_trips: dict[str, int] = {}
        self.names: dict[int, str] = {}

    def watch(self, engine: Engine, name: str) -> None:
        self.names[id(engine)] = name

        def executed(conn: Any, *args: Any) -> None:
            self.count(name, 1)

        event.listen(engine, "before_cursor_execute", executed)

    def count(self, name: str, statements: int) -> None:
        if self.on:
            self.statements[name] = self.statements.get(name, 0) + statements
            self.round_trips[name] = self.round_trips.get(name, 0) + 1

    def hook_pipeline(self) -> None:
        real = pgwire.pipeline

        def pipeline(conn: Any, steps: Any) -> Any:
            self.count(self.names.get(id(conn.engine), "?"), len(steps))
            return real(conn, steps)

        # Every caller's name for it: the module's own (commit_with, send_deferred,
        # the audit log's ``pgwire.pipeline``) and the DS update's import.
        pgwire.pipeline = pipeline  # type: ignore[assignment]
        ds_update.pipeline = pipeline  # type: ignore[assignment]

    def per(self, n: int) -> str:
        return ", ".join(
            f"{name} {self.statements[name] / n:.2f} statements in "
            f"{self.round_trips[name] / n:.2f} round trips"
            for name in sorted(self.statements)
        )


COUNTER = Counter()


def run(
    url: str, audit_url: str | None, n: int, profile: bool, zones: bool = False
) -> dict[str, float]:
    db = RegistryDatabase.from_url(url, pool_pre_ping=False)  # as tldsec epp serve
    COUNTER.watch(db.engine, "registry")
    if zones:
        db.upgrade(origin="example.")  # zone 1
    else:
        db.upgrade()
    clock = SystemClock()
    rules = RegistryRules(origin="example.", ds=load_policy().ds)
    audit: Callable[..., None] | None = None
    audit_log: Any = None
    if audit_url is not None:
        from tldsec.audit.adapters import registry_recorder
        from tldsec.audit.log import AuditLog
        from tldsec.audit.schema import ensure_schema
        from tldsec.db.base import make_engine

        engine = make_engine(audit_url, pool_pre_ping=False)  # as tldsec epp serve
        COUNTER.watch(engine, "audit")
        ensure_schema(engine)
        audit_log = AuditLog(engine, clock, signer=None, owns_engine=True)
        audit = registry_recorder(audit_log)
    hasher = fast_hasher()
    with db.write() as s:
        tx = Tx(Actor.registry(), clock.now(), "PROF-0", rules, hasher)
        registrars.add_registrar(s, tx, "bench", PASSWORD, email="ops@bench.test")
    kwargs: dict[str, Any] = {"audit": audit} if audit is not None else {}
    dispatcher = Dispatcher(
        db=db, rules=rules, clock=clock, hasher=hasher, gate=LoginGate(clock), **kwargs
    )
    if zones:
        from tldsec.registry.routing import load_routes

        with db.read() as s:  # as build_server, once
            dispatcher.routes = load_routes(s, {"example.": rules})
        assert dispatcher.routes is not None
    conn = Connection(peer="127.0.0.1:1")
    login = frame(
        f"<login><clID>bench</clID><pw>{PASSWORD}</pw><options><version>1.0</version>"
        f"<lang>en</lang></options><svcs><objURI>{DOMAIN}</objURI><objURI>{HOST}</objURI>"
        f"<svcExtension><extURI>{SECDNS}</extURI></svcExtension></svcs></login>"
    )
    assert b'code="1000"' in dispatcher.handle(login, conn).data
    host = frame(
        f'<create><host:create xmlns:host="{HOST}"><host:name>ns1.hoster.net</host:name>'
        f"</host:create></create>"
    )
    assert b'code="1000"' in dispatcher.handle(host, conn).data
    create = frame(
        f'<create><domain:create xmlns:domain="{DOMAIN}"><domain:name>bench0.example'
        f'</domain:name><domain:period unit="y">1</domain:period><domain:ns>'
        f"<domain:hostObj>ns1.hoster.net</domain:hostObj></domain:ns><domain:authInfo>"
        f"<domain:pw>auth-pw-1</domain:pw></domain:authInfo></domain:create></create>",
        f'<secDNS:create xmlns:secDNS="{SECDNS}">{ds_xml((DsData.of(1, 13, 2, "AA" * 32),))}'
        f"</secDNS:create>",
    )
    assert b'code="1000"' in dispatcher.handle(create, conn).data
    ds = DsData.of(1000, 13, 2, "BB" * 32)
    frames = [update_frame("bench0.example", ds, i % 2 == 0, i) for i in range(n)]
    for f in frames[:50]:  # warm up: pools, compiled statements, schemas
        assert b'code="1000"' in dispatcher.handle(f, conn).data, dispatcher.handle(f, conn).data
    if len(frames[:50]) % 2:
        dispatcher.handle(frames[1], conn)
    # CPU time, not wall: waiting on PostgreSQL costs the machine nothing.
    profiler = cProfile.Profile(time.process_time) if profile else None
    wall0, cpu0 = time.perf_counter(), time.process_time()
    COUNTER.on = True
    if profiler is not None:
        profiler.enable()
    for f in frames:
        answer = dispatcher.handle(f, conn)
        if b'code="1000"' not in answer.data:
            raise SystemExit(answer.data.decode())
    if profiler is not None:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    COUNTER.on = False
    db.dispose()
    if audit_log is not None:
        audit_log.close()
    if profiler is not None:
        for key in (os.environ.get("PROF_SORT", "cumulative"), "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(45)
            print(out.getvalue())
    return {"ms_wall": 1000 * wall / n, "ms_cpu": 1000 * cpu / n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--audit", action="store_true", help="a real audit log on PostgreSQL")
    ap.add_argument("--zones", action="store_true", help="route by the zone table (61)")
    a = ap.parse_args()
    COUNTER.hook_pipeline()
    with database() as url:
        if a.audit:
            with database() as audit_url:
                result = run(url, audit_url, a.n, a.profile, a.zones)
        else:
            result = run(url, None, a.n, a.profile, a.zones)
    print(
        f"{a.n} domain:update (secDNS add/rem), audit {'on' if a.audit else 'off'}, "
        f"zones {'routed' if a.zones else 'none'}: "
        f"{result['ms_wall']:.2f} ms wall, {result['ms_cpu']:.2f} ms CPU per transform "
        f"(load {os.getloadavg()[0]:.1f}); per transform: {COUNTER.per(a.n)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
