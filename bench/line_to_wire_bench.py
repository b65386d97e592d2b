"""The primary's journal path: every record line of a signed zone to wire RRs.

    .venv/bin/python bench/line_to_wire_bench.py ZONE.signed [-r 3]

``WireDiff.from_diff`` (``records.line_to_wire`` on each line) over a difference whose
added records are every line of ZONE, a zone tldsec signed (``bench/verify_bench.py``
keeps one in its --workdir). Each round runs in a fresh process, so no cache is warm
from an earlier one; CPU seconds of the conversion alone (reading the file is not
counted). Prints each round and the best, with a digest of the wire records, which
must not change with the code that makes them (decision 77).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import time
from pathlib import Path


def one_round(zone: Path) -> None:
    from tldsec.distribute.ixfr import WireDiff, ZoneDiff

    with open(zone, encoding="utf-8") as f:
        lines = tuple(line.rstrip("\n") for line in f if line.strip() and line[0] != ";")
    soa = next(line for line in lines if line.split(None, 4)[3] == "SOA")
    diff = ZoneDiff(soa.split(None, 1)[0], 1, 2, soa, (), soa, lines)
    t0 = time.process_time()
    wire = WireDiff.from_diff(diff)
    cpu = time.process_time() - t0
    digest = hashlib.sha256(b"".join(wire.added)).hexdigest()[:16]
    print(f"{cpu:.3f} {len(wire.added)} {digest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zone", type=Path)
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_round(args.zone)
        return
    results = []
    for _ in range(args.rounds):
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(args.zone)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        results.append(out)
        print(" ".join(out), flush=True)
    cpus = [float(r[0]) for r in results]
    print(f"best {min(cpus):.3f} CPU-s over {results[0][1]} lines; wire digest {results[0][2]}")


if __name__ == "__main__":
    main()
