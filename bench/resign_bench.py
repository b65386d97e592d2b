"""Re-signing benchmark: a full sign, then re-signs of the same zone as `tldsec sign`
does them (``signer.files.sign_zone_file``: the previous zone patched where the input
changed), each in its own process so peak RSS is its own.

For each size and key store: the full sign (which also writes the index and the input
copy the next run patches from); a re-sign after only the SOA serial changed; and a
re-sign after 1,000 delegations gained a DS (``changed_zone``). Prints the
seconds, peak RSS and each re-sign's ratio to the full sign (issue 2's targets: 1/10 at
100,000 delegations for the SOA change, 1/20 at 1,000,000 for 1,000 changes).

usage: bench/resign_bench.py -n 100000 [-n 1000000] [--backend file --backend pkcs11]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_sign import OUT, make_zone, run_measured, setup_keys


def drive(zone: Path, out: Path, keys: Path, previous: Path | None) -> None:
    """One signing run (this script re-run with --drive), printing one JSON line."""
    from tldsec.hsm.base import KeyStoreSpec
    from tldsec.hsm.open import open_keystore
    from tldsec.policy import load_policy
    from tldsec.signconf import SigningConfig, ZoneKey
    from tldsec.signer.files import sign_zone_file

    meta = json.loads(keys.read_text())
    paths = ("module", "softhsm2_conf", "directory")
    spec = KeyStoreSpec(
        **{k: (Path(v) if k in paths and v else v) for k, v in meta["spec"].items()}
    )
    store = open_keystore(spec)
    ksk, zsk = store.get_key(meta["ksk"]), store.get_key(meta["zsk"])
    config = SigningConfig.from_policy(
        load_policy(),
        (
            ZoneKey(ksk.key_id, 257, ksk.algorithm, ksk.public_key, True, True, False),
            ZoneKey(zsk.key_id, 256, zsk.algorithm, zsk.public_key, True, False, True),
        ),
    )
    now = datetime.fromtimestamp(meta["now"], UTC)
    t0 = time.perf_counter()
    result = sign_zone_file(
        zone,
        out,
        "example.",
        config,
        store,
        now,
        previous=previous,
        workers=os.cpu_count() or 1,
        header="benchmark",
    )
    seconds = time.perf_counter() - t0
    store.close()
    print(
        json.dumps(
            {
                "mode": result.mode,
                "why_full": result.why_full,
                "seconds": seconds,
                "made": result.signatures_made,
                "reused": result.signatures_reused,
            }
        )
    )


def changed_zone(zone: Path, changes: int) -> Path:
    """The zone with the next SOA serial and ``changes`` delegations given one DS each
    (distinct domains, distinct digests; one record per line, as registries write)."""
    out = zone.with_suffix(f".resign{changes}")
    done: set[str] = set()
    with open(zone) as src, open(out, "w") as dst:
        for line in src:
            parts = line.split()
            if len(parts) > 6 and parts[3] == "SOA":
                parts[6] = str(int(parts[6]) + 1)
                line = " ".join(parts) + "\n"
            elif (
                len(done) < changes
                and len(parts) == 5
                and parts[3] == "NS"
                and parts[0].count(".") == 2
                and parts[0] not in done
                and sum(parts[0].encode()) % 7 == 0
            ):
                done.add(parts[0])
                digest = f"{len(done):064X}"
                line = f"{parts[0]} {parts[1]} IN DS 4242 13 2 {digest}\n" + line
            dst.write(line)
    return out


def bench(n: int, backends: list[str]) -> list[dict[str, object]]:
    work = OUT / f"resign-{n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    zone = make_zone(n)
    keys = setup_keys(work, time.time())
    soa_only = changed_zone(zone, 0)
    changed = changed_zone(zone, 1000)
    rows: list[dict[str, object]] = []
    for backend in backends:
        full = work / f"{backend}-full.signed"
        runs = [
            ("full sign", zone, full, None),
            ("re-sign, SOA changed", soa_only, work / f"{backend}-soa.signed", full),
            ("re-sign, 1,000 delegations changed", changed, work / f"{backend}-1000.signed", full),
        ]
        full_seconds = 0.0
        for what, source, out, previous in runs:
            cmd = [sys.executable, __file__, "--drive", str(source), str(out)]
            cmd += ["--keys", str(keys[backend])]
            if previous is not None:
                cmd += ["--previous", str(previous)]
            env = {**os.environ, "SOFTHSM2_CONF": str(keys["softhsm2_conf"])}
            wall, rss, stdout = run_measured(cmd, env)
            info = json.loads(stdout.strip().splitlines()[-1])
            if previous is None:
                full_seconds = wall
            rows.append(
                {
                    "n": n,
                    "backend": backend,
                    "run": what,
                    "seconds": round(wall, 2),
                    "inner_seconds": round(info["seconds"], 2),
                    "rss_mib": round(rss),
                    "mode": info["mode"],
                    "made": info["made"],
                    "vs_full": None if previous is None else round(wall / full_seconds, 4),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    out = [
        "| delegations | key store | run | mode | seconds | signatures made | peak RSS MiB "
        "| vs full sign |",
        "|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = "-" if r["vs_full"] is None else f"{r['vs_full']:.3f}x"
        out.append(
            f"| {r['n']:,} | {r['backend']} | {r['run']} | {r['mode']} | {r['seconds']} "
            f"| {r['made']:,} | {r['rss_mib']} | {ratio} |"
        )
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, action="append", help="delegations (repeatable)")
    p.add_argument("--backend", action="append", choices=["file", "pkcs11"])
    p.add_argument("--drive", nargs=2, type=Path, metavar=("ZONE", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("--keys", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--previous", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.drive:
        drive(args.drive[0], args.drive[1], args.keys, args.previous)
        return 0
    rows = []
    for n in args.n or [100_000]:
        rows += bench(n, args.backend or ["file", "pkcs11"])
    load = os.getloadavg()
    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load[0]:.1f} {load[1]:.1f}\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
