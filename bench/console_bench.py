"""Registrar console latency with 20 concurrent browsers' worth of requests, on PostgreSQL.

``tldsec console serve`` runs in its own process over HTTPS on a fresh PostgreSQL
registry with N domains (default 5,000) of one registrar; C clients (default 20, each a
person of that registrar with their own TOTP, logged in once) are threads of this process
with their own HTTPS connection. For D seconds (default 60) each repeats what a person
does: the domain list (a random page), a search, one domain's page, then a DS added and
removed again on its own domain (each a POST and the page it redirects to). Pages are
GETs; changes are POST + redirected GET. The aim (issue 18): page p95 under 100 ms.

By default the clients never pause: each is a tight loop, a load no 20 people produce.
``--think S`` makes each one a person at a browser: a pause of 0.5 S to 1.5 S (uniform)
after each page or change, as a reader clicks on.

    .venv/bin/python bench/console_bench.py [--clients 20] [--seconds 60] [--domains 5000]
        [--think 0]

Prints a Markdown table (for docs/benchmarks.md) and writes bench/out/console_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import psycopg

from tldsec.clock import SystemClock
from tldsec.console.totp import TotpKey, code_at, enrol
from tldsec.epp.tlscert import make_self_signed
from tldsec.policy import load_policy
from tldsec.registry.context import Actor, RegistryRules, Tx
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.passwords import fast_hasher
from tldsec.registry.registrars import get_registrar

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
TLDSEC = Path(sys.executable).parent / "tldsec"
ADMIN = os.environ.get("TLDSEC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "bench-pw-1"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, text=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) so far of process ``pid`` and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def populate(url: str, home: Path, domains: int, clients: int) -> list[str]:
    """N domains of registrar ``bench`` and one console user per client (their secrets)."""
    db = RegistryDatabase.from_url(url)
    clock = SystemClock()
    rules = RegistryRules(origin="example.", ds=load_policy().ds)

    def tx(actor: Actor) -> Tx:
        return Tx(actor, clock.now(), f"bench-{uuid.uuid4().hex[:8]}", rules, fast_hasher())

    key = TotpKey.load(home / "console-totp.key", create=True)
    with db.write() as s:
        bench = Actor("bench", get_registrar(s, "bench").id)
        secrets = [
            enrol(s, tx(Actor.registry()), key, "bench", f"p{i}").secret for i in range(clients)
        ]
    for start in range(0, domains, 500):
        with db.write() as s:
            for n in range(start, min(domains, start + 500)):
                create_domain(s, tx(bench), DomainCreate(f"d{n:06d}.example", "auth-pw-1"))
    db.dispose()
    return secrets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--domains", type=int, default=5000)
    ap.add_argument(
        "--think", type=float, default=0.0, help="mean pause in seconds between a person's clicks"
    )
    a = ap.parse_args()

    db = f"tldsec_bench_{uuid.uuid4().hex[:8]}"
    audit_db = f"{db}_audit"
    base = ADMIN.rsplit("/", 1)[0]
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
        admin.execute(f'CREATE DATABASE "{audit_db}"')
    home = OUT / f"console-home-{db}"
    home.mkdir(parents=True)
    server = None
    try:
        url = base.replace("postgresql://", "postgresql+psycopg://") + f"/{db}"
        audit_url = base.replace("postgresql://", "postgresql+psycopg://") + f"/{audit_db}"
        (home / "tldsec.toml").write_text(
            f'[zone]\norigin = "example."\n[database]\nregistry_url = "{url}"\n'
            f'audit_url = "{audit_url}"\n[audit]\nkey_backend = "file"\n'
        )
        (home / "pw").write_text(PASSWORD + "\n")
        make_self_signed(home / "epp-cert.pem", home / "epp-key.pem", "localhost")
        sh(str(TLDSEC), "db", "upgrade", "--create", "--home", str(home))
        sh(
            str(TLDSEC),
            "registrar",
            "add",
            "bench",
            "--password-file",
            str(home / "pw"),
            "--home",
            str(home),
        )
        t0 = time.monotonic()
        secrets = populate(url, home, a.domains, a.clients)
        print(f"populated {a.domains} domains in {time.monotonic() - t0:.1f} s", flush=True)
        port = free_port()
        # TLDSEC_BENCH_PROFILE=FILE: the server's main thread (event loop) under cProfile.
        profile = os.environ.get("TLDSEC_BENCH_PROFILE")
        prefix = [sys.executable, "-m", "cProfile", "-o", profile] if profile else []
        server = subprocess.Popen(
            [
                *prefix,
                str(TLDSEC),
                "console",
                "serve",
                "--home",
                str(home),
                "--listen",
                f"127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        context = ssl.create_default_context(cafile=home / "epp-cert.pem")
        base_url = f"https://localhost:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx2.get(f"{base_url}/login", verify=context, timeout=5)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the console did not start") from None
                time.sleep(0.2)

        clients = []
        for i, secret in enumerate(secrets):
            c = httpx2.Client(base_url=base_url, verify=context, timeout=30, follow_redirects=True)
            page = c.get("/login")
            token = CSRF.search(page.text)
            assert token
            r = c.post(
                "/login",
                data={
                    "csrf": token.group(1),
                    "client_id": "bench",
                    "user": f"p{i}",
                    "password": PASSWORD,
                    "code": code_at(secret, datetime.now(UTC)),
                },
            )
            assert "Your domains" in r.text, r.text[:300]
            clients.append(c)
        print(f"{len(clients)} clients logged in; running {a.seconds:.0f} s", flush=True)

        pages: list[float] = []
        changes: list[float] = []
        requests = [0]  # every HTTP request of the run, the redirected GETs included
        errors: list[str] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + a.seconds
        pages_total = max(1, -(-a.domains // 50))

        def person(i: int) -> None:
            c = clients[i]
            rng = random.Random(i)
            own = f"d{i:06d}.example"
            ds = f"DS {1000 + i} 13 2 {rng.getrandbits(256):064X}"
            mine_p: list[float] = []
            mine_c: list[float] = []
            mine_r = 0

            def think() -> None:
                if a.think > 0:
                    time.sleep(
                        min(rng.uniform(0.5, 1.5) * a.think, max(0.0, stop_at - time.monotonic()))
                    )

            while time.monotonic() < stop_at:
                try:
                    for path in (
                        f"/domains?page={rng.randint(1, pages_total)}",
                        f"/domains?q=d{rng.randint(0, a.domains - 1):06d}"[:14],
                        f"/domains/d{rng.randint(0, a.domains - 1):06d}.example",
                    ):
                        t = time.perf_counter()
                        r = c.get(path)
                        mine_p.append(time.perf_counter() - t)
                        assert r.status_code == 200, (path, r.status_code)
                        think()
                    mine_r += 3
                    token = CSRF.search(c.get(f"/domains/{own}").text)
                    mine_r += 1
                    assert token
                    digest = ds.split()[-1]
                    for action, data in (
                        ("add", {"line": ds}),
                        (
                            "remove",
                            {
                                "key_tag": str(1000 + i),
                                "algorithm": "13",
                                "digest_type": "2",
                                "digest": digest,
                            },
                        ),
                    ):
                        t = time.perf_counter()
                        r = c.post(
                            f"/domains/{own}/ds/{action}", data={"csrf": token.group(1), **data}
                        )
                        mine_c.append(time.perf_counter() - t)
                        think()
                        mine_r += 2
                        assert (r.status_code == 200 and "removed" in r.text) or "added" in r.text
                except Exception as exc:  # a bench records failures, it does not stop
                    with lock:
                        errors.append(repr(exc)[:200])
            with lock:
                pages.extend(mine_p)
                changes.extend(mine_c)
                requests[0] += mine_r

        load0 = os.getloadavg()
        cpu0 = (cpu_of(server.pid), time.process_time())
        threads = [threading.Thread(target=person, args=(i,)) for i in range(a.clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        load1 = os.getloadavg()
        server_cpu = cpu_of(server.pid) - cpu0[0]
        client_cpu = time.process_time() - cpu0[1]
        for c in clients:
            c.close()

        def q(values: list[float], p: float) -> float:
            return statistics.quantiles(values, n=100)[int(p) - 1] * 1000 if len(values) > 2 else 0

        result = {
            "clients": a.clients,
            "seconds": round(elapsed, 1),
            "domains": a.domains,
            "think_seconds": a.think,
            "pages": len(pages),
            "pages_per_second": round(len(pages) / elapsed, 1),
            "page_ms": {
                "p50": round(q(pages, 50), 1),
                "p95": round(q(pages, 95), 1),
                "p99": round(q(pages, 99), 1),
            },
            "changes": len(changes),
            "change_ms": {
                "p50": round(q(changes, 50), 1),
                "p95": round(q(changes, 95), 1),
                "p99": round(q(changes, 99), 1),
            },
            "requests": requests[0],
            # CPU per HTTP request: the server's process, and this one (the clients).
            "server_cpu_ms_per_request": round(1000 * server_cpu / max(1, requests[0]), 2),
            "client_cpu_ms_per_request": round(1000 * client_cpu / max(1, requests[0]), 2),
            "errors": len(errors),
            "first_errors": errors[:3],
            "load_before": load0,
            "load_after": load1,
        }
        OUT.mkdir(exist_ok=True)
        (OUT / "console_bench.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        print()
        print("| requests | count | per s | p50 ms | p95 ms | p99 ms |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, values, ms in (
            ("pages (GET)", pages, result["page_ms"]),
            ("DS changes (POST + page)", changes, result["change_ms"]),
        ):
            print(
                f"| {name} | {len(values)} | {len(values) / elapsed:.1f} | {ms['p50']} | "
                f"{ms['p95']} | {ms['p99']} |"
            )
        return 0 if not errors else 1
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            admin.execute(f'DROP DATABASE IF EXISTS "{audit_db}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
