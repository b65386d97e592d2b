"""``tldsec zone build``: the unsigned TLD zone from the registry database."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tldsec.cli.common import add_home_argument, settings_from_args
from tldsec.clock import SystemClock
from tldsec.errors import ConfigError
from tldsec.registry.database import RegistryDatabase
from tldsec.zone.builder import build_from_registry, write_zone


def register(sub: Any) -> None:
    zone = sub.add_parser("zone", help="the TLD zone built from the registry")
    commands = zone.add_subparsers(dest="zone_command", metavar="ACTION", required=True)
    build = commands.add_parser(
        "build", help="write the unsigned zone (SOA, apex, delegations, DS, glue) to a file"
    )
    add_home_argument(build)
    build.add_argument("-o", "--output", required=True, type=Path, metavar="FILE")
    build.set_defaults(handler=_build)


def _build(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if settings.apex is None:
        raise ConfigError("[zone] apex settings are missing")
    db = RegistryDatabase.from_url(settings.registry_db_url)
    try:
        zone, built_at = build_from_registry(
            db,
            origin=settings.origin,
            apex=settings.apex,
            ttl=settings.policy.ttl,
            clock=SystemClock(),
        )
    finally:
        db.dispose()
    write_zone(zone, args.output, built_at)
    print(
        f"{args.output}: {zone.origin} serial {zone.serial}, {len(zone.records)} records, "
        f"{zone.delegations} delegations ({zone.signed_delegations} with DS), "
        f"{zone.glue_hosts} glue hosts, {len(zone.orphan_hosts)} orphaned"
    )
    return 0
