"""Audit log throughput: entries appended per second by concurrent writer processes on
SQLite and PostgreSQL, and the time ``verify`` takes for a long chain.

    .venv/bin/python bench/audit_bench.py [--writers 8] [--seconds 10] [--entries 1000000]

Writers are processes (as EPP workers, the signer and the CLI are), each with its own
engine, appending through ``AuditLog.record`` with the real clock and checkpoints every
1,000 entries. The verify chain is written directly (same format, checkpoints every
1,000 entries) so its size does not depend on the append rate, then read back from the
SQLite database through ``database_input`` + ``verify_chain`` as ``tldsec audit verify``
does. PostgreSQL is the server at $TLDSEC_TEST_PG (default 127.0.0.1:5432), in a
temporary database dropped afterwards. Prints a Markdown table; writes bench/out/audit.*.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert

from tldsec.audit.chain import verify_chain
from tldsec.audit.clockstatus import KernelClockStatus
from tldsec.audit.entry import GENESIS_HASH, checkpoint_message, make_entry
from tldsec.audit.log import AuditLog, WriterOptions
from tldsec.audit.models import CHECKPOINTS, ENTRIES, HEAD
from tldsec.audit.schema import upgrade
from tldsec.audit.signing import Ed25519Signer
from tldsec.audit.sources import database_input
from tldsec.clock import SystemClock
from tldsec.db.base import make_engine

ADMIN_URL = os.environ.get("TLDSEC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
OUT = Path(__file__).parent / "out"


@dataclass(frozen=True, slots=True)
class AppendResult:
    database: str
    writers: int
    entries: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.entries / self.seconds


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _writer(url: str, n: int, raw_key: bytes, barrier: Any, seconds: float) -> None:
    engine = make_engine(url)
    log = AuditLog(
        engine,
        SystemClock(),
        signer=Ed25519Signer(Ed25519PrivateKey.from_private_bytes(raw_key)),
        probe=KernelClockStatus(),
        options=WriterOptions(checkpoint_every=1000, backwards_tolerance=timedelta(seconds=5)),
    )
    barrier.wait()
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        log.record("ds.received", actor=f"registrar:reg-{n}", domain=f"d{i}.example", n=i)
        i += 1
    engine.dispose()


def bench_append(name: str, url: str, writers: int, seconds: float) -> AppendResult:
    engine = make_engine(url)
    upgrade(engine)
    key = _raw(Ed25519PrivateKey.generate())
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tldsec.audit.log", "tldsec.db.base"])
    barrier = ctx.Barrier(writers + 1)
    procs = [
        ctx.Process(target=_writer, args=(url, n, key, barrier, seconds)) for n in range(writers)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    if any(p.exitcode for p in procs):
        raise SystemExit(f"a {name} writer failed")
    with engine.connect() as conn:
        head = conn.execute(HEAD.select()).one()
    engine.dispose()
    return AppendResult(name, writers, int(head.seq), elapsed)


def _postgres_db() -> tuple[str, str]:
    name = f"tldsec_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return name, f"{base}/{name}"


def _drop_postgres(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True, slots=True)
class VerifyResult:
    entries: int
    write_seconds: float
    verify_seconds: float
    ok: bool

    @property
    def rate(self) -> float:
        return self.entries / self.verify_seconds


def bench_verify(url: str, entries: int) -> VerifyResult:
    engine = make_engine(url)
    upgrade(engine)
    signer = Ed25519Signer.generate()
    t0 = time.perf_counter()
    prev = GENESIS_HASH
    start = datetime(2025, 1, 1, tzinfo=UTC)
    batch: list[dict[str, Any]] = []
    cps: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for seq in range(1, entries + 1):
            when = start + timedelta(milliseconds=seq)
            e = make_entry(
                seq=seq,
                time=when,
                actor=f"registrar:reg-{seq % 8}",
                event="ds.received",
                level="info",
                details={"domain": f"d{seq}.example", "n": seq},
                prev_hash=prev,
            )
            prev = e.hash
            batch.append(
                {
                    "seq": seq,
                    "time": when,
                    "actor": e.actor,
                    "event": e.event,
                    "level": e.level,
                    "details": dict(e.details),
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                }
            )
            if seq % 1000 == 0 or seq == entries:
                signature = signer.sign(checkpoint_message(seq, e.hash, when))
                cps.append(
                    {
                        "seq": seq,
                        "head_hash": e.hash,
                        "time": when,
                        "key_id": signer.key_id,
                        "signature": signature.hex(),
                    }
                )
            if len(batch) >= 10000:
                conn.execute(insert(ENTRIES), batch)
                batch = []
        if batch:
            conn.execute(insert(ENTRIES), batch)
        conn.execute(insert(CHECKPOINTS), cps)
        conn.execute(
            HEAD.update().values(
                seq=entries, hash=prev, time=start, checkpoint_seq=entries, checkpoint_time=start
            )
        )
    write_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    source = database_input(engine)
    report = verify_chain(
        source.entries,
        keys={signer.key_id: signer.public_key()},
        checkpoints=source.checkpoints,
        anchor=source.anchor,
        head=source.head,
    )
    verify_seconds = time.perf_counter() - t1
    engine.dispose()
    assert report.entries == entries
    return VerifyResult(entries, write_seconds, verify_seconds, report.ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    results: list[AppendResult] = []
    with tempfile.TemporaryDirectory(prefix="tldsec-audit-bench-") as tmp:
        for writers in (1, args.writers):
            url = f"sqlite:///{Path(tmp) / f'append-{writers}.db'}"
            results.append(bench_append("SQLite (WAL)", url, writers, args.seconds))
        if not args.skip_postgres:
            for writers in (1, args.writers):
                name, url = _postgres_db()
                try:
                    results.append(bench_append("PostgreSQL", url, writers, args.seconds))
                finally:
                    _drop_postgres(name)
        verify = bench_verify(f"sqlite:///{Path(tmp) / 'verify.db'}", args.entries)
    load_after = os.getloadavg()

    lines = [
        f"Audit log benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, load average {load_before[0]:.1f} before / "
        f"{load_after[0]:.1f} after (other work was running on the machine).",
        "",
        "| database | writer processes | entries | seconds | entries/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.database} | {r.writers} | {r.entries:,} | {r.seconds:.1f} | {r.rate:,.0f} |"
        )
    lines += [
        "",
        "| verify (SQLite, from the database) | entries | seconds | entries/s | result |",
        "|---|---:|---:|---:|---|",
        f"| chain + {verify.entries // 1000:,} checkpoints | {verify.entries:,} | "
        f"{verify.verify_seconds:.1f} | {verify.rate:,.0f} | "
        f"{'intact' if verify.ok else 'BROKEN'} |",
        "",
        f"(Writing the {verify.entries:,}-entry chain for the verify test took "
        f"{verify.write_seconds:.1f} s and is not part of the measurement.)",
    ]
    table = "\n".join(lines)
    print(table)
    OUT.mkdir(exist_ok=True)
    (OUT / "audit.md").write_text(table + "\n", "utf-8")
    data = {
        "append": [asdict(r) | {"rate": r.rate} for r in results],
        "verify": asdict(verify) | {"rate": verify.rate},
        "load": [load_before, load_after],
    }
    (OUT / "audit.json").write_text(json.dumps(data, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
