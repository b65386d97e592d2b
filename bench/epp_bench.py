"""EPP transform throughput and latency on PostgreSQL, beside pgbench's ceiling.

N concurrent TLS sessions (default 20), each on its own domain, alternate
``domain:update`` with ``secDNS:add`` and with ``secDNS:rem`` of one DS for D seconds
(default 60). The server is ``tldsec epp serve`` in its own process on a fresh
PostgreSQL database; the clients are threads of this process using the in-repo client.
Then ``pgbench -b simple-update`` runs with as many clients for as long on the same
server: the ceiling for one-row-update transactions. ICANN's registry SLA allows
4000 ms per transform; the aim is p99 under 50 ms.

    .venv/bin/python bench/epp_bench.py [--sessions 20] [--seconds 60]

Prints a Markdown table (for docs/epp.md) and writes bench/out/epp_bench.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

from tldsec.cli.common import default_processes
from tldsec.epp.client import EppClient
from tldsec.epp.tls import client_context
from tldsec.epp.tlscert import make_self_signed
from tldsec.registry.ds_rules import DsData

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
TLDSEC = Path(sys.executable).parent / "tldsec"
ADMIN = os.environ.get("TLDSEC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "bench-pw-1"


def sh(*argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, text=True, capture_output=True, **kw)  # type: ignore[call-overload, no-any-return]


def _proc_stats() -> dict[int, tuple[int, str, float]]:
    """pid -> (ppid, command name, CPU seconds) of every process, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / tick)
    return stats


def _backends_of(database: str, stats: dict[int, tuple[int, str, float]]) -> list[int]:
    """The PostgreSQL backends connected to ``database`` (their title names it)."""
    found = []
    for pid, (_ppid, name, _cpu) in stats.items():
        if name.startswith("postgres"):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f" {database} " in title or title.rstrip().endswith(f" {database}"):
                found.append(pid)
    return found


def _context_switches(pids: set[int], kind: str = "") -> float:
    """Context switches so far of every thread of ``pids``: ``kind`` "voluntary_",
    "nonvoluntary_" or "" for both."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith(f"{kind}ctxt_switches:") or (
                    not kind and "ctxt_switches:" in line
                ):
                    total += int(line.split(":")[1])
    return float(total)


def _commits(databases: tuple[str, ...]) -> dict[str, float]:
    """Committed transactions so far per database (pg_stat_database; flushed about
    once a second by the backends, so a run's count is good to a second's worth)."""
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT datname, xact_commit, sessions FROM pg_stat_database WHERE datname = ANY(%s)",
            (list(databases),),
        ).fetchall()
    found = {str(name): (float(count), float(sessions)) for name, count, sessions in rows}
    out = {}
    for i, d in enumerate(databases):
        out[f"commits_{i}"], out[f"connections_{i}"] = found.get(d, (0.0, 0.0))
    return out


def cpu_seconds(server_pid: int, databases: tuple[str, ...]) -> dict[str, float]:
    """CPU seconds so far of the server's process tree, this (client) process, the
    PostgreSQL backends serving ``databases``, and the whole machine (/proc/stat)."""
    stats = _proc_stats()
    tree, grew = {server_pid}, True
    while grew:
        grew = False
        for pid, (ppid, _name, _cpu) in stats.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    cpu_line = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(x) for i, x in enumerate(cpu_line) if i not in (3, 4))  # not idle, iowait
    return {
        "server": sum(stats[p][2] for p in tree if p in stats),
        "client": time.process_time(),
        "postgres": sum(stats[p][2] for d in databases for p in _backends_of(d, stats)),
        "machine": busy / os.sysconf("SC_CLK_TCK"),
        "server_switches": _context_switches(tree),
        "server_switches_involuntary": _context_switches(tree, "nonvoluntary_"),
        **_commits(databases),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument(
        "--processes",
        type=int,
        default=0,
        help="server processes (default 0: the server's default, one per core)",
    )
    ap.add_argument(
        "--audit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the server records DS changes in a real audit log (PostgreSQL), as in "
        "production (default; --no-audit to measure without it)",
    )
    ap.add_argument(
        "--pgbench",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run pgbench's ceiling after the EPP run (--no-pgbench: only the EPP run)",
    )
    ap.add_argument(
        "--timeline",
        type=Path,
        metavar="CSV",
        help="write every transform's start (seconds into the run) and latency (ms)",
    )
    a = ap.parse_args()

    db = f"tldsec_bench_{uuid.uuid4().hex[:8]}"
    audit_db = f"{db}_audit"
    base = ADMIN.rsplit("/", 1)[0]
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
        admin.execute(f'CREATE DATABASE "{audit_db}"')
    home = OUT / f"epp-home-{db}"
    home.mkdir(parents=True)
    server = None
    try:
        url = base.replace("postgresql://", "postgresql+psycopg://") + f"/{db}"
        audit_url = base.replace("postgresql://", "postgresql+psycopg://") + f"/{audit_db}"
        (home / "tldsec.toml").write_text(
            f'[zone]\norigin = "example."\n[database]\nregistry_url = "{url}"\n'
            f'audit_url = "{audit_url}"\n'
            f"[epp]\nsessions_per_registrar = {a.sessions + 4}\n"
            # every session connects from 127.0.0.1 at once, before any has logged in
            f"unauthenticated_per_address = {a.sessions + 4}\n"
            '[audit]\nkey_backend = "file"\n'
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
        server = subprocess.Popen(
            [
                str(TLDSEC),
                "epp",
                "serve",
                "--home",
                str(home),
                "--listen",
                "127.0.0.1:0",
                *(["--processes", str(a.processes)] if a.processes else []),
                "--audit" if a.audit else "--no-audit",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        port = int(server.stdout.readline().rsplit(":", 1)[1])
        context = client_context(home / "epp-cert.pem")

        # Set-up: one domain per session, with a name server and one DS.
        with EppClient("127.0.0.1", port, context) as setup:
            assert setup.login("bench", PASSWORD).code == 1000
            assert setup.host_create("ns1.bench-hoster.net").code == 1000
            for i in range(a.sessions):
                r = setup.domain_create(
                    f"bench{i}.example",
                    ns=("ns1.bench-hoster.net",),
                    ds=(DsData.of(1, 13, 2, "AA" * 32),),
                )
                assert r.code == 1000, r.message
            setup.logout()

        latencies: list[list[float]] = [[] for _ in range(a.sessions)]
        started: list[list[float]] = [[] for _ in range(a.sessions)]
        errors = [0] * a.sessions
        start = threading.Barrier(a.sessions + 1)
        stop_at = [0.0]

        def session(i: int) -> None:
            ds = DsData.of(1000 + i, 13, 2, f"{i:02X}" * 32)
            client = EppClient("127.0.0.1", port, context)
            try:
                client.connect()
                assert client.login("bench", PASSWORD).code == 1000
            except BaseException:
                client.close()
                start.abort()  # the others must not wait for this one forever
                raise
            with client:
                start.wait()
                add = True
                while time.perf_counter() < stop_at[0]:
                    t0 = time.perf_counter()
                    if add:
                        r = client.domain_update_ds(f"bench{i}.example", add=(ds,))
                    else:
                        r = client.domain_update_ds(f"bench{i}.example", remove=(ds,))
                    latencies[i].append(time.perf_counter() - t0)
                    started[i].append(t0)
                    if r.code != 1000:
                        errors[i] += 1
                    add = not add
                client.logout()

        threads = [threading.Thread(target=session, args=(i,)) for i in range(a.sessions)]
        for t in threads:
            t.start()
        stop_at[0] = time.perf_counter() + 3600
        # The client's own collector pauses would show up as server latency: what
        # exists now lives until the end, and the sessions make little garbage.
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        start.wait()
        t_begin = time.perf_counter()
        stop_at[0] = t_begin + a.seconds
        cpu0 = cpu_seconds(server.pid, (db, audit_db))
        load0 = os.getloadavg()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t_begin
        cpu1 = cpu_seconds(server.pid, (db, audit_db))
        load1 = os.getloadavg()
        all_lat = sorted(x for lat in latencies for x in lat)
        if a.timeline is not None:
            rows = sorted(
                (t0 - t_begin, 1000 * dt)
                for ts, lat in zip(started, latencies, strict=True)
                for t0, dt in zip(ts, lat, strict=True)
            )
            a.timeline.write_text(
                "start_s,latency_ms\n" + "".join(f"{t:.4f},{ms:.2f}\n" for t, ms in rows)
            )
        n = len(all_lat)
        # CPU in ms per transform; context switches and commits per transform.
        cpu = {
            k: round(
                (cpu1[k] - cpu0[k])
                / n
                * (1 if k.startswith(("commits", "connections", "server_s")) else 1000),
                3,
            )
            for k in cpu0
        }
        epp = {
            "transactions": n,
            "errors": sum(errors),
            "seconds": round(elapsed, 2),
            "tps": round(n / elapsed, 1),
            "p50_ms": round(1000 * all_lat[n // 2], 2),
            "p99_ms": round(1000 * all_lat[min(n - 1, int(n * 0.99))], 2),
            "max_ms": round(1000 * all_lat[-1], 2),
            "mean_ms": round(1000 * statistics.fmean(all_lat), 2),
        }
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        audited = None
        if a.audit:  # every DS change must be in the audit log
            with psycopg.connect(f"{base}/{audit_db}") as conn:
                row = conn.execute(
                    "SELECT count(*) FROM audit_entries WHERE event = 'ds.changed'"
                ).fetchone()
                audited = int(row[0]) if row else 0

        # The ceiling: pgbench simple-update, same clients, same duration, same server.
        pg_url = f"{base}/{db}"
        out = ""
        if a.pgbench:
            sh("pgbench", "-i", "-q", "-s", "10", pg_url)
            out = sh(
                "pgbench",
                "-b",
                "simple-update",
                "-c",
                str(a.sessions),
                "-j",
                "2",
                "-T",
                str(int(a.seconds)),
                pg_url,
            ).stdout
        match = re.search(r"tps = ([0-9.]+)", out)
        pgbench_tps = float(match.group(1)) if match else float("nan")
        lat = re.search(r"latency average = ([0-9.]+) ms", out)
        result = {
            "sessions": a.sessions,
            "server_processes": a.processes or default_processes(),
            "epp": epp,
            "pgbench_simple_update_tps": pgbench_tps,
            "pgbench_latency_avg_ms": float(lat.group(1)) if lat else None,
            "cpus": os.cpu_count(),
            "audit": a.audit,
            "audit_ds_entries": audited,
            "cpu_ms_per_transform": cpu,
            "load_average_before": [round(x, 2) for x in load0],
            "load_average_after": [round(x, 2) for x in load1],
        }
        OUT.mkdir(exist_ok=True)
        (OUT / "epp_bench.json").write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
        print()
        print("| measure | value |")
        print("| --- | --- |")
        print(
            f"| EPP domain:update (secDNS add/rem), {a.sessions} TLS sessions, "
            f"{elapsed:.0f} s | {epp['tps']} transactions/s |"
        )
        print(
            f"| latency p50 / p99 / max | {epp['p50_ms']} / {epp['p99_ms']} / {epp['max_ms']} ms |"
        )
        print(f"| failed transforms | {epp['errors']} of {n} |")
        print(f"| pgbench simple-update, {a.sessions} clients | {pgbench_tps:.0f} tps |")
        print(f"| EPP / pgbench | {epp['tps'] / pgbench_tps:.2f} |")
        print(
            f"| CPU ms per transform: server / client / PostgreSQL / machine | "
            f"{cpu['server']} / {cpu['client']} / {cpu['postgres']} / {cpu['machine']} |"
        )
        print(
            f"| per transform: server context switches (involuntary) / registry / audit "
            f"transactions and pool pings | {cpu['server_switches']} "
            f"({cpu['server_switches_involuntary']}) / {cpu['commits_0']} / {cpu['commits_1']} |"
        )
        print(
            f"| new database connections per 1000 transforms: registry / audit | "
            f"{1000 * cpu['connections_0']:.2f} / {1000 * cpu['connections_1']:.2f} |"
        )
        print(f"| load average before / after the EPP run | {load0[0]:.2f} / {load1[0]:.2f} |")
        if a.audit:
            print(f"| audit entries ds.changed (setup included) | {audited} |")
        return 0
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        if server is not None and server.stdout is not None:
            server.stdout.close()
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            admin.execute(f'DROP DATABASE IF EXISTS "{audit_db}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
