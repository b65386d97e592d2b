"""The running registry under load: a cycle after 1,000 DS changes made over EPP, and
the time from an EPP DS change to the secondary serving it.

    .venv/bin/python bench/cycle_bench.py                        # 1,000,000 domains
    .venv/bin/python bench/cycle_bench.py -n 20000 --latency 200 # a short run

Set-up (timed, not the targets): a home with a SoftHSM2 token (``tldsec init``), the
registry on a fresh PostgreSQL database, N delegations (every fifth with a DS) written
with COPY, and the first cycle (every RRset signed).

Phase A, the cycle (target < 30 s at 1M): ``tldsec epp serve`` runs; ``--changes`` DS
records are added over EPP (real TLS sessions, the in-repo client), then ``tldsec cycle``
runs once; its stages (build, keys, sign, verify, distribute) come from its JSON result.

Phase B, the latency (target p95 < 60 s, change-driven mode): ``tldsec serve`` (EPP,
scheduler with the policy's debounce, hidden primary) and a real NSD as secondary
(NOTIFY, IXFR, TSIG-less on loopback). ``--latency`` DS changes are made over EPP at
``--pace`` seconds apart; each is timed from the EPP response to the moment NSD answers
with the new DS (NSD's SOA serial is watched; each pending change is checked when it
moves). p50/p95/max are printed.

Results: a Markdown summary on stdout, and bench/out/cycle-<N>.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.distribute.nameservers import NsdZone, free_port, start_nsd  # noqa: E402

from tldsec.epp.client import EppClient  # noqa: E402
from tldsec.epp.tls import client_context  # noqa: E402
from tldsec.registry import zonedigest  # noqa: E402
from tldsec.registry.database import RegistryDatabase  # noqa: E402
from tldsec.registry.ds_rules import DsData  # noqa: E402

OUT = ROOT / "bench" / "out"
ORIGIN = "example."
REGISTRAR, PASSWORD = "bench", "bench-password-1"
ADMIN_URL = os.environ.get("TLDSEC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def tldsec(*args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "tldsec.cli.main", *args], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"tldsec {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out


def new_ds(i: int) -> DsData:
    return DsData.of(40000 + i % 20000, 13, 2, f"{i * 104729 + 17:064X}")


# --- set-up ---------------------------------------------------------------------------


def make_home(home: Path, db_url: str, extra: str) -> None:
    tldsec("init", "--home", str(home), "--origin", ORIGIN)
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[database]\nregistry_url = "{db_url}"\n{extra}\n')
    tldsec("db", "upgrade", "--home", str(home))
    pw = home / "bench-password"
    pw.write_text(PASSWORD + "\n")
    tldsec("registrar", "add", REGISTRAR, "--home", str(home), "--password-file", str(pw))


def seed(libpq_url: str, domains: int, sa_url: str) -> float:
    """N delegations to two out-of-zone name servers, every fifth with a DS (COPY), and
    the registry's zone digest of them (written in bulk, as the migration's back-fill)."""
    t0 = time.perf_counter()
    now = datetime.now(UTC)
    expires = now + timedelta(days=365)
    with psycopg.connect(libpq_url) as conn, conn.cursor() as cur:
        (rid,) = cur.execute(
            "SELECT id FROM registrar WHERE client_id = %s", (REGISTRAR,)
        ).fetchone()  # type: ignore[misc]
        hosts = []
        for name in ("ns1.hoster.net", "ns2.hoster.net"):
            (hid,) = cur.execute(  # type: ignore[misc]
                "INSERT INTO host (name, registrar_id, creator_id, created_at) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (name, rid, rid, now),
            ).fetchone()
            hosts.append(hid)
        with cur.copy(
            "COPY domain (id, name, registrar_id, creator_id, auth_hash, created_at, expires_at) "
            "FROM STDIN"
        ) as copy:
            for i in range(1, domains + 1):
                copy.write_row((i, f"d{i}.example", rid, rid, "x", now, expires))
        cur.execute("SELECT setval(pg_get_serial_sequence('domain', 'id'), %s)", (domains,))
        with cur.copy("COPY domain_ns (domain_id, host_id) FROM STDIN") as copy:
            for i in range(1, domains + 1):
                copy.write_row((i, hosts[0]))
                copy.write_row((i, hosts[1]))
        with cur.copy(
            "COPY ds_record (domain_id, key_tag, algorithm, digest_type, digest) FROM STDIN"
        ) as copy:
            for i in range(5, domains + 1, 5):
                copy.write_row((i, 10000 + i % 50000, 13, 2, f"{i * 7919 + 1:064X}"))
        conn.commit()
    db = RegistryDatabase.from_url(sa_url)
    try:
        with db.write() as session:
            zonedigest.rebuild(session)
    finally:
        db.dispose()
    with psycopg.connect(libpq_url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return time.perf_counter() - t0


def epp_client(home: Path, port: int) -> EppClient:
    client = EppClient("127.0.0.1", port, client_context(home / "epp-cert.pem"))
    client.connect()
    response = client.login(REGISTRAR, PASSWORD)
    if response.code != 1000:
        raise SystemExit(f"EPP login failed: {response.code} {response.message}")
    return client


def wait_port(port: int, process: subprocess.Popen[Any], timeout: float = 120) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"process exited: {process.args}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"port {port} never opened")


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- phase A: one cycle after --changes DS changes over EPP ------------------------------


def phase_a(home: Path, domains: int, changes: int) -> dict[str, Any]:
    port = free_port()
    epp = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tldsec.cli.main",
            "epp",
            "serve",
            "--home",
            str(home),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_port(port, epp)
        t0 = time.perf_counter()
        with epp_client(home, port) as client:
            step = max(1, domains // changes)
            for k in range(changes):
                name = f"d{1 + k * step}.example"
                response = client.domain_update_ds(name, add=(new_ds(k),))
                if response.code != 1000:
                    raise SystemExit(f"{name}: {response.code} {response.message}")
        epp_seconds = time.perf_counter() - t0
    finally:
        stop(epp)
    t0 = time.perf_counter()
    result = json.loads(tldsec("cycle", "--home", str(home), "--json").stdout)
    wall = time.perf_counter() - t0
    if result["outcome"] != "published":
        raise SystemExit(f"the measured cycle did not publish: {result}")
    return {"epp_seconds": epp_seconds, "cycle_wall_seconds": wall, "cycle": result}


# --- phase B: EPP change -> the secondary serving it ----------------------------------


def phase_b(home: Path, work: Path, domains: int, samples: int, pace: float) -> dict[str, Any]:
    nsd_port, dns_port, epp_port, health_port = (free_port() for _ in range(4))
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write(
            f"\n[distribute]\nnotify_timeout_seconds = 2\n\n[[distribute.secondaries]]\n"
            f'name = "nsd"\nallow = ["127.0.0.1"]\nnotify = ["127.0.0.1:{nsd_port}"]\n'
            f'\n[serve]\nhealth_listen = "127.0.0.1:{health_port}"\n'
        )
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tldsec.cli.main",
            "serve",
            "--home",
            str(home),
            "--dns-listen",
            f"127.0.0.1:{dns_port}",
            "--epp-listen",
            f"127.0.0.1:{epp_port}",
        ],
        stdout=open(work / "serve.log", "w"),  # noqa: SIM115 - the child keeps it
        stderr=subprocess.STDOUT,
    )
    nsd = None
    try:
        wait_port(epp_port, serve, timeout=600)
        t0 = time.perf_counter()
        nsd = start_nsd(work / "nsd", [NsdZone(ORIGIN, ("127.0.0.1", dns_port))], nsd_port)
        serial = _serial(dns_port)
        nsd.wait_serial(ORIGIN, serial, timeout=1800)
        initial_axfr = time.perf_counter() - t0
        pending: dict[str, tuple[float, int]] = {}
        latencies: list[float] = []
        lock = threading.Lock()
        done = threading.Event()

        def watch() -> None:
            seen = nsd.serial(ORIGIN) if nsd else None
            while not done.is_set() or pending:
                now_serial = nsd.serial(ORIGIN) if nsd else None
                if now_serial != seen:
                    seen = now_serial
                    with lock:
                        items = list(pending.items())
                    for name, (sent, tag) in items:
                        if _has_ds(nsd.port, name, tag):  # type: ignore[union-attr]
                            with lock:
                                pending.pop(name, None)
                            latencies.append(time.monotonic() - sent)
                time.sleep(0.1)
                if done.is_set() and time.monotonic() - last_sent > 900:
                    return

        last_sent = time.monotonic()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        step = max(1, domains // samples)
        with epp_client(home, epp_port) as client:
            for k in range(samples):
                name = f"d{2 + k * step}.example"
                ds = new_ds(50000 + k)
                response = client.domain_update_ds(name, add=(ds,))
                last_sent = time.monotonic()
                if response.code != 1000:
                    raise SystemExit(f"{name}: {response.code} {response.message}")
                with lock:
                    pending[name + "."] = (last_sent, ds.key_tag)
                time.sleep(pace)
        done.set()
        watcher.join(1200)
        latencies.sort()
        return {
            "initial_axfr_seconds": initial_axfr,
            "samples": len(latencies),
            "missing": len(pending),
            "p50": statistics.median(latencies) if latencies else None,
            "p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
            "max": latencies[-1] if latencies else None,
            "latencies": [round(x, 2) for x in latencies],
        }
    finally:
        stop(serve)
        if nsd is not None:
            nsd.stop()


def _serial(port: int) -> int:
    q = dns.message.make_query(ORIGIN, "SOA")
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=5)
    return int(r.answer[0][0].serial)


def _has_ds(port: int, name: str, tag: int) -> bool:
    q = dns.message.make_query(name, "DS")
    try:
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=3)
    except (OSError, dns.exception.DNSException):
        return False
    return any(
        rrset.rdtype == dns.rdatatype.DS and any(rd.key_tag == tag for rd in rrset)
        for rrset in r.answer
    )


def new_database() -> tuple[str, str, str]:
    """A fresh PostgreSQL database for a bench: its name, libpq URL and SQLAlchemy URL."""
    db = f"tldsec_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    libpq = ADMIN_URL.rsplit("/", 1)[0] + f"/{db}"
    return db, libpq, libpq.replace("postgresql://", "postgresql+psycopg://", 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--domains", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--latency", type=int, default=200, help="changes timed to NSD")
    parser.add_argument("--pace", type=float, default=0.5, help="seconds between them")
    parser.add_argument("--workdir", type=Path, help="default: bench/out/work-cycle-N")
    args = parser.parse_args()
    n = args.domains
    work = args.workdir or OUT / f"work-cycle-{n}"
    if work.exists():
        raise SystemExit(f"{work} exists: remove it or give --workdir")
    work.mkdir(parents=True)
    home = work / "home"
    home.mkdir()
    db, libpq, sa_url = new_database()
    report: dict[str, Any] = {"domains": n, "changes": args.changes, "machine_cpus": os.cpu_count()}
    try:
        t0 = time.perf_counter()
        make_home(home, sa_url, "[cycle]\ncheck_seconds = 1\n")
        report["init_seconds"] = time.perf_counter() - t0
        report["seed_seconds"] = seed(libpq, n, sa_url)
        print(f"seeded {n:,} domains in {report['seed_seconds']:.1f} s", flush=True)
        t0 = time.perf_counter()
        first = json.loads(tldsec("cycle", "--home", str(home), "--json").stdout)
        report["first_cycle"] = {"wall_seconds": time.perf_counter() - t0, "result": first}
        print(f"first cycle: {first['seconds']:.1f} s {first['timings']}", flush=True)
        report["phase_a"] = phase_a(home, n, args.changes)
        a = report["phase_a"]["cycle"]
        print(
            f"cycle after {args.changes} EPP DS changes: {a['seconds']:.1f} s {a['timings']} "
            f"({_build_kind(a)} build)",
            flush=True,
        )
        if args.latency:
            report["phase_b"] = phase_b(home, work, n, args.latency, args.pace)
            b = report["phase_b"]
            print(
                f"EPP -> NSD latency over {b['samples']} changes: p50 {b['p50']:.1f} s, "
                f"p95 {b['p95']:.1f} s, max {b['max']:.1f} s",
                flush=True,
            )
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    OUT.mkdir(parents=True, exist_ok=True)  # with --workdir elsewhere it may not exist yet
    (OUT / f"cycle-{n}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(summary(report))
    return 0


def _build_kind(result: dict[str, Any]) -> str:
    return "incremental" if result.get("stats", {}).get("incremental_build") else "full"


def summary(r: dict[str, Any]) -> str:
    out = io.StringIO()
    a = r["phase_a"]["cycle"]
    out.write(f"\n| cycle on {r['domains']:,} domains, {r['changes']} DS changes | seconds |\n")
    out.write("|---|---|\n")
    for stage, seconds in a["timings"].items():
        kind = f" ({_build_kind(a)})" if stage == "build" else ""
        out.write(f"| {stage}{kind} | {seconds:.1f} |\n")
    out.write(f"| **cycle total** | **{a['seconds']:.1f}** |\n")
    out.write(f"| first cycle (all signed) | {r['first_cycle']['result']['seconds']:.1f} |\n")
    b = r.get("phase_b")
    if b and b["samples"]:
        out.write(
            f"\nEPP response -> NSD serving the DS, {b['samples']} changes "
            f"({b['missing']} not seen): p50 {b['p50']:.1f} s, p95 {b['p95']:.1f} s, "
            f"max {b['max']:.1f} s; initial AXFR to NSD {b['initial_axfr_seconds']:.1f} s\n"
        )
    return out.getvalue()


if __name__ == "__main__":
    sys.exit(main())
