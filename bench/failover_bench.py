"""The two-site failover drill's timings (issue 20 item 3, decision 50).

Runs the drill of tests/system/sites.py: a PostgreSQL primary (site A) and its
synchronous streaming standby (site B) in temporary directories, an EPP server per
site on the libpq multi-host URL, N registrar sessions (default 20) making DS changes,
each sent until answered 1000; after B seconds site A's PostgreSQL is killed with
SIGKILL, B's standby is promoted P seconds later (default 1: the operator's or the HA
manager's decision), and the sessions go on for A seconds. With the signing half (the
default; ``--no-signing`` for the database half alone, decision 50), each site's signer
is ``tldsec serve --role signer`` in a network namespace of its own with its own
SoftHSM2 token, pushing to two primaries that feed two NSD secondaries, each validated
by an Unbound; A's signer is killed with A's PostgreSQL (decision 53). Prints:

- kill -> first change answered 1000 on B (the EPP's reconnection after promotion);
- kill -> first zone from B: with the signing half, signed by B's signer and pushed to
  and acknowledged by a primary (installed and served); without it, built by B's
  lease-holding builder;
- kill -> every change sent before the kill served by both secondaries (signing half);
- per change, first send -> 1000 (p50, p95, max), through the failover, and (signing
  half) its 1000 -> both secondaries serve it (p50, p95, max): the update time;
- acknowledged changes lost (must be 0) and unacknowledged ones applied (must be 0);
  (signing half) validation failures through Unbound and serials gone back (must be 0).

    .venv/bin/python bench/failover_bench.py [--sessions 20] [--promote-after 1]
        [--before 5] [--after 8] [--runs 1] [--no-signing]

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
        **_signing(outcome),
        "acknowledged_lost": lost,
        "unacknowledged_applied": extra,
        "ledger_differs": len(outcome.ledger_differs),
        "session_errors": outcome.session_errors,
    }


def _signing(outcome: Outcome) -> dict[str, object]:
    watch = outcome.watch
    if watch is None:
        return {}
    served = outcome.to_served()
    wrong = sum(
        1
        for tags in (outcome.served or {}).values()
        for d in outcome.expected
        if tags.get(d, set()) != outcome.expected[d]
    )
    return {
        "kill_to_all_served_s": outcome.all_served,
        "update_p50_s": statistics.median(served) if served else None,
        "update_p95_s": sorted(served)[min(len(served) - 1, int(len(served) * 0.95))]
        if served
        else None,
        "update_max_s": served[-1] if served else None,
        "domains_not_served_as_acknowledged": wrong,
        "validated_answers": watch.validated,
        "bogus_answers": len(watch.bogus),
        "unanswered": watch.unanswered,
        "serials_backwards": len(watch.serials_backwards()),
        "signers_in_namespaces": outcome.no_netns is None,
        "signer_listening": {k: sorted(v) for k, v in (outcome.listening or {}).items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--promote-after", type=float, default=1.0)
    parser.add_argument("--before", type=float, default=5.0)
    parser.add_argument("--after", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--no-signing", action="store_true", help="the database half alone (decision 50)"
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    # The servers log every failed command with its traceback: to a file, not the table.
    logging.basicConfig(filename=OUT / "failover_bench.log", level=logging.WARNING)
    rows = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="tldsec-failover-") as tmp:
            drill = Drill(
                Path(tmp),
                sessions=args.sessions,
                promote_after=args.promote_after,
                signing=not args.no_signing,
            )
            rows.append(row(drill.run(before=args.before, after=args.after)))
        print(json.dumps(rows[-1]), flush=True)
    print()
    print(
        "| run | changes 1000 | 2400s | kill -> promote | kill -> first 1000 on B "
        "| kill -> first zone from B | p50 | p95 | max | lost | applied unacked |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    signing = [r for r in rows if "update_p95_s" in r]
    for n, r in enumerate(rows, 1):
        print(f"| {n} | {r['changes_acknowledged']} | {r['answers_2400']} "
              f"| {r['promote_after_s']} s | {_s(r['kill_to_first_1000_on_b_s'])} "
              f"| {_s(r['kill_to_first_zone_from_b_s'])} | {_s(r['latency_p50_s'])} "
              f"| {_s(r['latency_p95_s'])} | {_s(r['latency_max_s'])} "
              f"| {r['acknowledged_lost']} | {r['unacknowledged_applied']} |")  # fmt: skip
    if signing:
        print()
        print(
            "| run | kill -> first zone from B (acknowledged) | kill -> all served "
            "| update p50 | update p95 | update max | validated | bogus | serial back |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for n, r in enumerate(signing, 1):
            print(f"| {n} | {_s(r['kill_to_first_zone_from_b_s'])} "
                  f"| {_s(r['kill_to_all_served_s'])} | {_s(r['update_p50_s'])} "
                  f"| {_s(r['update_p95_s'])} | {_s(r['update_max_s'])} "
                  f"| {r['validated_answers']} | {r['bogus_answers']} "
                  f"| {r['serials_backwards']} |")  # fmt: skip
    bad = any(r["acknowledged_lost"] or r["unacknowledged_applied"] or r["ledger_differs"]
              or r["session_errors"] or r.get("bogus_answers")
              or r.get("serials_backwards") or r.get("domains_not_served_as_acknowledged")
              for r in rows)  # fmt: skip
    return 1 if bad else 0


def _s(value: object) -> str:
    return "-" if value is None else f"{float(value):.2f} s"  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
