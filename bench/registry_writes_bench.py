"""Domain creates and name-server updates through the registry's services (the ORM path
EPP's ``domain:create`` and ``domain:update`` with NS take), one transaction each, in one
process: changes per second and SQL statements per change, on SQLite and PostgreSQL.

The statements are counted with SQLAlchemy's ``before_cursor_execute`` (COMMIT and the
pool's ping not included); the count does not depend on the machine's load, the rate
does. The zone digest (decision 42) is part of every such change.

    .venv/bin/python bench/registry_writes_bench.py [-n 300] [--backend sqlite|postgres|both]

Prints a Markdown table (for docs/benchmarks.md) and writes bench/out/registry_writes.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event

from tldsec.clock import SystemClock
from tldsec.policy import load_policy
from tldsec.registry.context import Actor, RegistryRules, Tx
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.hosts import create_host
from tldsec.registry.passwords import fast_hasher
from tldsec.registry.registrars import add_registrar, get_registrar

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
ADMIN = os.environ.get("TLDSEC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def database(backend: str) -> Iterator[RegistryDatabase]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            db = RegistryDatabase.from_url(f"sqlite:///{tmp}/registry.db")
            db.upgrade()
            try:
                yield db
            finally:
                db.dispose()
        return
    name = f"tldsec_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    db = RegistryDatabase.from_url(url, pool_pre_ping=False)
    try:
        db.upgrade()
        yield db
    finally:
        db.dispose()
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(backend: str, n: int) -> dict[str, Any]:
    clock = SystemClock()
    rules = RegistryRules(origin="example.", ds=load_policy().ds)
    hasher = fast_hasher()

    def tx(actor: Actor) -> Tx:
        return Tx(actor, clock.now(), f"bench-{uuid.uuid4().hex[:8]}", rules, hasher)

    with database(backend) as db:
        with db.write() as s:
            add_registrar(s, tx(Actor.registry()), "bench", "bench-pw-12345")
            actor = Actor("bench", get_registrar(s, "bench").id)
            for i in range(4):
                create_host(s, tx(actor), f"ns{i}.dns-host.test")
        statements = [0]

        @event.listens_for(db.engine, "before_cursor_execute")
        def _count(*_args: object) -> None:
            statements[0] += 1

        result: dict[str, Any] = {"backend": backend, "n": n}
        for step in ("create", "ns_update"):
            statements[0] = 0
            t0, c0 = time.monotonic(), time.process_time()
            for i in range(n):
                with db.write() as s:
                    if step == "create":
                        create_domain(
                            s,
                            tx(actor),
                            DomainCreate(
                                f"w{i:06d}.example",
                                "auth-pw-1",
                                ns=("ns0.dns-host.test", "ns1.dns-host.test"),
                                ds=(DsData.of(1 + i, 13, 2, f"{i:064X}"),),
                            ),
                        )
                    else:
                        update_domain(
                            s,
                            tx(actor),
                            DomainUpdate(
                                f"w{i:06d}.example",
                                add_ns=("ns2.dns-host.test",),
                                rem_ns=("ns0.dns-host.test",),
                            ),
                        )
            wall, cpu = time.monotonic() - t0, time.process_time() - c0
            result[step] = {
                "per_s": round(n / wall, 1),
                "ms_each": round(1000 * wall / n, 2),
                "cpu_ms_each": round(1000 * cpu / n, 2),
                "statements_each": round(statements[0] / n, 1),
            }
        return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    a = ap.parse_args()
    backends = ("sqlite", "postgres") if a.backend == "both" else (a.backend,)
    load0 = os.getloadavg()
    results = [run(b, a.n) for b in backends]
    out = {"results": results, "load_before": load0, "load_after": os.getloadavg()}
    OUT.mkdir(exist_ok=True)
    (OUT / "registry_writes.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    print("| backend | change | per s | ms each | CPU ms each | statements each |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in results:
        for step in ("create", "ns_update"):
            m = r[step]
            print(
                f"| {r['backend']} | {step} | {m['per_s']} | {m['ms_each']} | "
                f"{m['cpu_ms_each']} | {m['statements_each']} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
