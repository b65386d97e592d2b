"""``tldsec trace SVTRID [--json]``: every step of the zone changes one EPP (or console)
transaction made, with times: accepted, built in serial N, signed, verified, published,
served by each secondary, live (decision 51, docs/operations.md "Tracing a change")."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tldsec.cli.common import add_home_argument, settings_from_args
from tldsec.registry.database import RegistryDatabase
from tldsec.trace.query import trace


def register(sub: Any) -> None:
    p = sub.add_parser(
        "trace",
        help="every step of a DS (zone) change from its EPP svTRID to the secondaries",
    )
    p.add_argument("sv_trid", metavar="SVTRID", help="the <svTRID> of the EPP response")
    add_home_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    db = RegistryDatabase.from_url(settings.registry_db_url)
    try:
        with db.read() as session:
            trails = trace(session, args.sv_trid)
    finally:
        db.engine.dispose()
    if args.json:
        print(json.dumps([t.as_json() for t in trails], indent=2))
    else:
        print("\n".join(line for t in trails for line in t.lines()))
    return 0
