"""``tldsec cycle``: run one zone cycle now (build, keys, sign, verify, distribute)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tldsec.cli.common import add_home_argument, settings_from_args
from tldsec.clock import SystemClock
from tldsec.cycle import open_cycle


def register(sub: Any) -> None:
    p = sub.add_parser(
        "cycle",
        help="run one zone cycle now: build, sign, verify, distribute",
        description="Build the unsigned zone from the registry, carry out the key steps "
        "that are due, sign (reusing signatures, DPS 6.5), verify (DPS 6.6) and commit "
        "the zone to the distribution store, from where the primary serves it and "
        "notifies the secondaries. Nothing is distributed unless every check passed. "
        "Without --force a cycle with nothing to do (no registry change, no key step, "
        "no signature to refresh) stops at once. Exit status 1 if the zone was refused "
        "or a stage failed: the last good zone stays distributed.",
    )
    add_home_argument(p)
    p.add_argument("--force", action="store_true", help="build and sign even if nothing changed")
    p.add_argument("--check", action="store_true", help="only say whether a cycle is needed")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--workers", type=int, help="signing processes (default: [cycle] workers)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    clock = SystemClock()
    if args.check:
        with open_cycle(settings, clock, keystore=False, audit=False) as cycle:
            pending = cycle.pending()
        reason = None if pending is None else pending.reason
        print(json.dumps({"pending": reason}) if args.json else (reason or "nothing to do"))
        return 0
    with open_cycle(settings, clock, workers=args.workers) as cycle:
        result = cycle.run(force=args.force)
    print(json.dumps(result.as_json()) if args.json else result.summary(), flush=True)
    return 0 if result.ok else 1
