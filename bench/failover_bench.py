"""The two-site failover drill's timings (issue 20 item 3, decision 50).

Runs the drill of tests/system/sites.py: a PostgreSQL primary (site A) and its
synchronous streaming standby (site B) in temporary directories, an EPP server per
site on the libpq multi-host URL, N registrar sessions (default 20) making DS changes,
each sent until answered 1000; after B seconds site A's PostgreSQL is killed with
SIGKILL, B's standby is promoted P seconds later (default 1: the operator's or the HA
manager's decision), and the sessions go on for A seconds. Prints:

- kill -> first change answered 1000 on B (the EPP's reconnection after promotion);
- kill -> first zone built from B's registry (B's builder; B's signer and its lease are
  engineer "roles"' part, not measured here);
- per change, first send -> 1000 (p50, p95, max), through the failover;
- acknowledged changes lost (must be 0) and unacknowledged ones applied (must be 0).

    .venv/bin/python bench/failover_bench.py [--sessions 20] [--promote-after 1]
        [--before 4] [--after 8] [--runs 1]

Run as root (the clusters run as the postgres user) or as a user who may run initdb.
The servers' log goes to bench/out/failover_bench.log.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from tests.system.sites import Drill, Outcome  # noqa: E402


def row(outcome: Outcome) -> dict[str, object]:
    latencies = outcome.latencies()
    acked = [c for c in outcome.changes if c.acknowledged is not None]
    lost = sum(len(outcome.expected[d] - outcome.found[d]) for d in outcome.expected)
    extra = sum(len(outcome.found[d] - outcome.expected[d]) for d in outcome.expected)
    return {
        "sessions": len(outcome.expected),
        "changes_acknowledged": len(acked),
        "answers_2400": sum(c.answers.count(2400) for c in outcome.changes),
        "promote_after_s": round(outcome.promoted - outcome.killed, 2),
        "kill_to_first_1000_on_b_s": outcome.first_write_on_b,
        "kill_to_first_zone_from_b_s": outcome.first_zone_from_b,
        "latency_p50_s": statistics.median(latencies),
        "latency_p95_s": outcome.p95(),
        "latency_max_s": latencies[-1],
        "acknowledged_lost": lost,
        "unacknowledged_applied": extra,
        "ledger_differs": len(outcome.ledger_differs),
        "session_errors": outcome.session_errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--promote-after", type=float, default=1.0)
    parser.add_argument("--before", type=float, default=4.0)
    parser.add_argument("--after", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    # The servers log every failed command with its traceback: to a file, not the table.
    logging.basicConfig(filename=OUT / "failover_bench.log", level=logging.WARNING)
    rows = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="tldsec-failover-") as tmp:
            drill = Drill(Path(tmp), sessions=args.sessions, promote_after=args.promote_after)
            rows.append(row(drill.run(before=args.before, after=args.after)))
        print(json.dumps(rows[-1]), flush=True)
    print()
    print(
        "| run | changes 1000 | 2400s | kill -> promote | kill -> first 1000 on B "
        "| kill -> first zone from B | p50 | p95 | max | lost | applied unacked |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, r in enumerate(rows, 1):
        print(f"| {n} | {r['changes_acknowledged']} | {r['answers_2400']} "
              f"| {r['promote_after_s']} s | {_s(r['kill_to_first_1000_on_b_s'])} "
              f"| {_s(r['kill_to_first_zone_from_b_s'])} | {_s(r['latency_p50_s'])} "
              f"| {_s(r['latency_p95_s'])} | {_s(r['latency_max_s'])} "
              f"| {r['acknowledged_lost']} | {r['unacknowledged_applied']} |")  # fmt: skip
    bad = any(r["acknowledged_lost"] or r["unacknowledged_applied"] or r["ledger_differs"]
              or r["session_errors"] for r in rows)  # fmt: skip
    return 1 if bad else 0


def _s(value: object) -> str:
    return "-" if value is None else f"{float(value):.2f} s"  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
