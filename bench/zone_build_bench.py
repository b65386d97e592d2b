"""Zone build from PostgreSQL: seconds for N delegations, and the ratio to a plain COPY.

The registry is filled from the project's test zone (``shared/tools/gen_tld_zone.py``,
default 1,000,000 delegations): its delegations, name servers, glue and DS go into the
registry tables with COPY. Then the zone builder (``tldsec.zone.builder``) reads them
from one snapshot and writes the unsigned zone; the baseline is ``COPY (SELECT ...) TO
STDOUT`` of the same three joins the builder reads, on the same server. Finally the
built zone's delegation records are compared with the generator's: they must be equal,
but for reserved names the generator happened to draw (``www``...), which the builder
withholds (``zone.quarantine``).

Then the incremental build (``tldsec.zone.incremental``): ``--changes`` DS records are
added to as many domains (rows written as the registry writes them, with their
``zone_change`` rows), the zone is rebuilt from the previous file and those changes, and
the result is compared byte for byte with a full build of the same state.

    .venv/bin/python bench/zone_build_bench.py [-n 1000000] [--changes 1000]

Prints a Markdown table and writes bench/out/zone_build_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from tldsec.clock import SystemClock
from tldsec.policy import load_policy
from tldsec.registry.context import RegistryRules
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.names import superordinate
from tldsec.settings import ApexSettings
from tldsec.zone.builder import build_from_registry, write_zone
from tldsec.zone.buildinfo import info_path
from tldsec.zone.incremental import build_zone_file

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
GENERATOR = ROOT.parent / "shared" / "tools" / "gen_tld_zone.py"
ADMIN = os.environ.get("TLDSEC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ORIGIN = "example."

# The three reads of the zone builder, for the COPY baseline.
BASELINE = [
    "SELECT d.name, h.name FROM domain d JOIN domain_ns n ON n.domain_id = d.id "
    "JOIN host h ON h.id = n.host_id WHERE NOT EXISTS (SELECT 1 FROM domain_status s "
    "WHERE s.domain_id = d.id AND s.status IN ('clientHold', 'serverHold'))",
    "SELECT d.name, r.key_tag, r.algorithm, r.digest_type, r.digest FROM domain d "
    "JOIN ds_record r ON r.domain_id = d.id",
    "SELECT h.name, h.parent_name, a.version, a.address FROM host h "
    "JOIN host_address a ON a.host_id = h.id WHERE h.parent_name IS NOT NULL",
]


def generate(n: int) -> Path:
    path = OUT / f"zone-{n}.zone"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, str(GENERATOR), "-n", str(n), "--tld", "example", "-o", str(path)],
            check=True,
        )
    return path


def delegation_lines(lines: list[str]) -> set[str]:
    """Records below the apex, without the apex name servers and their glue."""
    out = set()
    for line in lines:
        if not line or line.startswith((";", "$")):
            continue
        owner = line.split(" ", 1)[0]
        if owner != ORIGIN and not owner.endswith(".nic." + ORIGIN):
            out.add(line)
    return out


def load(conninfo: str, zone: Path) -> dict[str, int]:
    """Fill the registry tables from the zone file with COPY."""
    domains: dict[str, int] = {}
    hosts: dict[str, int] = {}
    ns_rows: list[tuple[int, int]] = []
    ds_rows: list[tuple[int, int, int, int, str]] = []
    addr_rows: list[tuple[int, str, int]] = []

    def host_id(name: str) -> int:
        if name not in hosts:
            hosts[name] = len(hosts) + 1
        return hosts[name]

    with zone.open() as f:
        for line in f:
            if line.startswith((";", "$")):
                continue
            owner, _ttl, _cls, rtype, rdata = line.rstrip("\n").split(" ", 4)
            if owner == ORIGIN or owner.endswith(".nic." + ORIGIN):
                continue
            name = owner[:-1]
            if rtype == "NS":
                d = domains.setdefault(name, len(domains) + 1)
                ns_rows.append((d, host_id(rdata[:-1])))
            elif rtype == "DS":
                d = domains.setdefault(name, len(domains) + 1)
                tag, alg, dtype, digest = rdata.split(" ")
                ds_rows.append((d, int(tag), int(alg), int(dtype), digest))
            elif rtype in ("A", "AAAA"):
                addr_rows.append((host_id(name), rdata, 4 if rtype == "A" else 6))
    now = datetime.now(UTC)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO registrar (id, client_id, name, email, password_hash, enabled, "
            "created_at) VALUES (1, 'bench', 'bench', '', 'x', true, %s)",
            (now,),
        )
        with cur.copy(
            "COPY domain (id, name, registrar_id, creator_id, auth_hash, created_at, expires_at) "
            "FROM STDIN"
        ) as copy:
            for name, i in domains.items():
                copy.write_row((i, name, 1, 1, "x", now, now + timedelta(days=365)))
        with cur.copy(
            "COPY host (id, name, registrar_id, creator_id, parent_name, zone_id, created_at)"
            " FROM STDIN"
        ) as copy:
            for name, i in hosts.items():
                parent = superordinate(name, ORIGIN)  # in zone 1 when under the origin
                copy.write_row((i, name, 1, 1, parent, None if parent is None else 1, now))
        with cur.copy("COPY domain_ns (domain_id, host_id) FROM STDIN") as copy:
            for row in ns_rows:
                copy.write_row(row)
        with cur.copy(
            "COPY ds_record (domain_id, key_tag, algorithm, digest_type, digest) FROM STDIN"
        ) as copy:
            for row in ds_rows:
                copy.write_row(row)
        with cur.copy("COPY host_address (host_id, address, version) FROM STDIN") as copy:
            for row in addr_rows:
                copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        cur.execute("ANALYZE")
    return {
        "domains": len(domains),
        "hosts": len(hosts),
        "ns_rows": len(ns_rows),
        "ds_rows": len(ds_rows),
        "address_rows": len(addr_rows),
    }


def copy_baseline(conninfo: str) -> tuple[float, int]:
    """Seconds to stream the builder's three reads out with COPY, and the bytes read."""
    total = 0
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        t0 = time.perf_counter()
        for query in BASELINE:
            with cur.copy(f"COPY ({query}) TO STDOUT") as copy:
                for chunk in copy:
                    total += len(chunk)
        return time.perf_counter() - t0, total


def add_ds(conninfo: str, changes: int, domains: int) -> None:
    """``changes`` DS additions spread over the domains, each with its zone_change row."""
    now = datetime.now(UTC)
    step = max(1, domains // changes)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        rows = cur.execute(
            "SELECT id, name FROM domain WHERE id %% %s = 1 ORDER BY id LIMIT %s",
            (step, changes),
        ).fetchall()
        cur.executemany(
            "INSERT INTO ds_record (domain_id, key_tag, algorithm, digest_type, digest) "
            "VALUES (%s, %s, 13, 2, %s)",
            [(i, 40000 + k % 20000, f"{k * 104729 + 17:064X}") for k, (i, _) in enumerate(rows)],
        )
        cur.executemany(
            "INSERT INTO zone_change (at, name, reason) VALUES (%s, %s, 'domain-update')",
            [(now, name) for _, name in rows],
        )


def incremental(
    registry: RegistryDatabase, conninfo: str, apex: ApexSettings, domains: int, changes: int
) -> dict[str, object]:
    """Full build, ``changes`` DS additions, incremental build, full build to compare."""
    ttl = load_policy().ttl
    rules = RegistryRules(origin=ORIGIN, ds=load_policy().ds)
    built_at = datetime.now(UTC).replace(microsecond=0)
    ours, theirs = OUT / "incremental.zone", OUT / "full.zone"

    def build(path: Path, serial: int, inc: bool) -> tuple[float, bool]:
        t0 = time.perf_counter()
        with registry.snapshot() as s:
            result = build_zone_file(
                s,
                path,
                zone_id=1,
                origin=ORIGIN,
                apex=apex,
                ttl=ttl,
                rules=rules,
                serial=serial,
                built_at=built_at,
                incremental=inc,
            )
        return time.perf_counter() - t0, result.incremental

    first_s, _ = build(ours, 1, False)
    add_ds(conninfo, changes, domains)
    inc_s, was_incremental = build(ours, 2, True)
    full_s, _ = build(theirs, 2, False)
    same = ours.read_bytes() == theirs.read_bytes()
    for path in (ours, theirs, info_path(ours), info_path(theirs)):
        path.unlink()
    return {
        "changes": changes,
        "full_build_and_write_s": round(full_s, 2),
        "first_full_build_s": round(first_s, 2),
        "incremental_build_s": round(inc_s, 3),
        "incremental": was_incremental,
        "full_over_incremental": round(full_s / inc_s, 1),
        "byte_identical": same,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--delegations", type=int, default=1_000_000)
    ap.add_argument(
        "--changes", type=int, default=1000, help="DS changes for the incremental build"
    )
    a = ap.parse_args()
    zone_file = generate(a.delegations)
    db = f"tldsec_bench_{uuid.uuid4().hex[:8]}"
    base = ADMIN.rsplit("/", 1)[0]
    conninfo = f"{base}/{db}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    registry = RegistryDatabase.from_url(
        base.replace("postgresql://", "postgresql+psycopg://") + f"/{db}"
    )
    try:
        registry.upgrade()
        t0 = time.perf_counter()
        counts = load(conninfo, zone_file)
        load_s = time.perf_counter() - t0

        baseline_s, baseline_bytes = copy_baseline(conninfo)
        apex = ApexSettings(
            ns=("a.nic.example.", "b.nic.example."),
            glue=(("a.nic.example.", "192.0.2.53"), ("b.nic.example.", "198.51.100.53")),
            soa_mname="a.nic.example.",
            soa_rname="hostmaster.example.",
        )
        rules = RegistryRules(origin=ORIGIN, ds=load_policy().ds)
        t0 = time.perf_counter()
        zone, built_at = build_from_registry(
            registry,
            zone_id=1,
            origin=ORIGIN,
            apex=apex,
            ttl=load_policy().ttl,
            rules=rules,
            clock=SystemClock(),
        )
        build_s = time.perf_counter() - t0
        out = OUT / f"built-{a.delegations}.zone"
        t0 = time.perf_counter()
        write_zone(zone, out, built_at)
        write_s = time.perf_counter() - t0

        ours = delegation_lines([r.line() for r in zone.records])
        # The generator knows nothing of reserved names (www, whois, ...): the builder
        # withholds those delegations (quarantined, docs/registry.md) and nothing else.
        withheld = {q.name + "." for q in zone.quarantined}
        reserved = {name + "." for name in rules.reserved.names}
        theirs = {
            line
            for line in delegation_lines(zone_file.read_text().splitlines())
            if line.split(" ", 1)[0] not in withheld
        }
        equal = ours == theirs and withheld <= reserved
        records = len(zone.records)
        del zone, ours, theirs
        inc = incremental(registry, conninfo, apex, counts["domains"], a.changes)
        result = {
            "delegations": a.delegations,
            "rows": counts,
            "records": records,
            "load_copy_s": round(load_s, 2),
            "baseline_copy_out_s": round(baseline_s, 2),
            "baseline_bytes": baseline_bytes,
            "build_s": round(build_s, 2),
            "write_s": round(write_s, 2),
            "build_over_copy": round(build_s / baseline_s, 2),
            "build_and_write_over_copy": round((build_s + write_s) / baseline_s, 2),
            "same_delegation_records_as_generator": equal,
            "withheld_reserved_names": sorted(withheld),
            "incremental": inc,
            "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "cpus": os.cpu_count(),
        }
        OUT.mkdir(exist_ok=True)
        (OUT / "zone_build_bench.json").write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
        print()
        print("| measure | value |")
        print("| --- | --- |")
        print(f"| delegations / records | {a.delegations:,} / {records:,} |")
        print(f"| COPY of the builder's three reads (baseline) | {baseline_s:.1f} s |")
        print(
            f"| zone build (DB snapshot -> sorted records) | {build_s:.1f} s "
            f"({build_s / baseline_s:.1f}x COPY) |"
        )
        print(f"| zone file write | {write_s:.1f} s |")
        print(f"| delegation records equal to the generator's | {equal} |")
        print(
            f"| incremental build after {a.changes} DS changes (previous file + changes) | "
            f"{inc['incremental_build_s']:.2f} s ({inc['full_over_incremental']}x faster than "
            f"the full build and write, {inc['full_build_and_write_s']:.1f} s) |"
        )
        print(f"| incremental file byte-identical to the full build | {inc['byte_identical']} |")
        print(f"| peak RSS of this process | {result['max_rss_mib']} MiB |")
        return 0 if equal and inc["byte_identical"] and inc["incremental"] else 1
    finally:
        registry.dispose()
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
