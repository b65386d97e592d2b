"""Bulk import of an RFC 9022 deposit into PostgreSQL (issue 18 item 3; target: 1M
domains with 15 % DS in under 10 minutes on this machine).

    .venv/bin/python bench/import_bench.py -n 100000
    .venv/bin/python bench/import_bench.py -n 1000000      # only on a quiet machine

A synthetic FULL deposit is written with the project's own writer (``rde.write``): two
registrars, 20 name servers outside the TLD, N domains (every domain two of them; every
twentieth domain also an in-zone name server with glue; 15 % with a DS; each an Argon2id
authInfo hash, as a tldsec export carries them). It is imported into a fresh PostgreSQL
database with ``import_file`` (read, check, COPY in batches) and timed. The registry is
then exported again (``export_file``, timed). Last, 64 plain authInfo values are hashed
with the production parameters in the process pool, to say what plain values would add.

Results: a Markdown summary on stdout, and bench/out/import-<N>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tldsec.policy import load_policy  # noqa: E402
from tldsec.registry.context import Actor, RegistryRules, Tx  # noqa: E402
from tldsec.registry.database import RegistryDatabase  # noqa: E402
from tldsec.registry.deposit import rde  # noqa: E402
from tldsec.registry.deposit.load import hash_plain  # noqa: E402
from tldsec.registry.deposit.objects import (  # noqa: E402
    DepositDomain,
    DepositDs,
    DepositHost,
    DepositRegistrar,
)
from tldsec.registry.deposit.service import export_file, import_file  # noqa: E402
from tldsec.registry.passwords import fast_hasher, production_hasher  # noqa: E402

OUT = ROOT / "bench" / "out"
ORIGIN = "example."
ADMIN_URL = os.environ.get("TLDSEC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2026, 12, 7, tzinfo=UTC)
HASH = fast_hasher().hash("bench-auth")  # one PHC string; the import keeps it as it is


def write_deposit(path: Path, n: int) -> int:
    """The deposit; the number of domains with a DS."""
    registrars = [DepositRegistrar(c, c.upper(), f"ops@{c}.test", "") for c in ("regone", "regtwo")]
    outside = [DepositHost(f"ns{i}.dns-host.test", "regone", "") for i in range(20)]

    def glue() -> object:
        for i in range(0, n, 20):
            yield DepositHost(
                f"ns.d{i}.example",
                registrars[i % 2].client_id,
                "",
                addresses=((f"198.51.{(i // 20) // 250 % 250}.{(i // 20) % 250 + 1}", 4),),
            )

    with_ds = 0

    def domains() -> object:
        nonlocal with_ds
        for i in range(n):
            ds: tuple[DepositDs, ...] = ()
            if i % 20 < 3:  # 15 %
                with_ds += 1
                ds = (DepositDs(10000 + i % 50000, 13, 2, f"{i * 7919 + 1:064X}"),)
            ns = [outside[i % 20].name, outside[(i + 7) % 20].name]
            if i % 20 == 0:
                ns.append(f"ns.d{i}.example")
            yield DepositDomain(
                name=f"d{i}.example",
                registrar=registrars[i % 2].client_id,
                where="",
                created_at=NOW - timedelta(days=1 + i % 3000),
                expires_at=NOW + timedelta(days=1 + i % 3000),
                statuses=("clientTransferProhibited",) if i % 10 == 0 else (),
                ns=tuple(sorted(ns)),
                ds=ds,
                auth=HASH,
            )

    hosts = [*outside, *glue()]  # type: ignore[misc]
    with path.open("wb") as out:
        rde.write(
            out,
            "bench",
            NOW,
            "example",
            iter(registrars),
            iter(()),
            iter(hosts),
            domains(),  # type: ignore[arg-type]
            {"registrars": 2, "hosts": len(hosts), "domains": n},
        )
    return with_ds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100_000, help="domains (default 100000)")
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--profile", type=Path, help="cProfile the import into this file")
    parser.add_argument("--no-export", action="store_true", help="skip the export after it")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"deposit-{args.n}.xml"
    t0 = time.monotonic()
    with_ds = write_deposit(path, args.n)
    t_write = time.monotonic() - t0

    name = f"tldsec_import_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    db = RegistryDatabase.from_url(url)
    try:
        db.upgrade()
        tx = Tx(
            actor=Actor.registry(),
            now=NOW,
            sv_trid="bench-import",
            rules=RegistryRules(origin=ORIGIN, ds=load_policy().ds),
            hasher=production_hasher(),
        )
        t0, c0 = time.monotonic(), time.process_time()
        if args.profile:
            import cProfile

            with cProfile.Profile() as profiler:
                report = import_file(db, path, tx, batch=args.batch)
            profiler.dump_stats(args.profile)
        else:
            report = import_file(db, path, tx, batch=args.batch)
        t_import, c_import = time.monotonic() - t0, time.process_time() - c0
        # The way back: the whole registry exported as a FULL deposit again.
        exported = OUT / f"export-{args.n}.xml"
        t_export, rss_export, same = 0.0, 0.0, None
        if not args.no_export:
            t0 = time.monotonic()
            export_file(db, exported, tx, deposit_id="bench")
            t_export = time.monotonic() - t0
            rss_export = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            same = rde.read(exported).counts() == rde.read(path).counts()
            exported.unlink()
    finally:
        db.dispose()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert report.imported is not None and not report.refused, report.refused[:5]

    t0 = time.monotonic()
    hash_plain(production_hasher(), [f"plain-{i}" for i in range(64)], None)
    per_hash = (time.monotonic() - t0) / 64
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "domains": args.n,
        "with_ds": with_ds,
        "hosts": report.imported.hosts,
        "deposit_mib": round(path.stat().st_size / 2**20, 1),
        "write_deposit_s": round(t_write, 1),
        "import_s": round(t_import, 1),
        "import_cpu_s": round(c_import, 1),  # this process only (not PostgreSQL's)
        "domains_per_s": round(args.n / t_import),
        "export_s": round(t_export, 1),
        "rss_after_export_mib": round(rss_export),
        "export_counts_equal": same,
        "extrapolated_1m_s": round(t_import * 1_000_000 / args.n),
        "plain_hash_s_each_pooled": round(per_hash, 3),
        "rss_mib": round(rss),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
    }
    (OUT / f"import-{args.n}.json").write_text(json.dumps(result, indent=2))
    path.unlink()
    print(
        f"| {args.n:,} | {with_ds:,} | {result['deposit_mib']} | {result['import_s']} | "
        f"{result['domains_per_s']:,} | {result['extrapolated_1m_s']} | {result['rss_mib']} |"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
