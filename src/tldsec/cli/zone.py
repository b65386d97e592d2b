"""``tldsec zone build``: the unsigned TLD zone from the registry database;
``tldsec zone quarantine list|release``: the registry objects the builder withholds."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tldsec.cli import zone_admin
from tldsec.cli.common import (
    add_home_argument,
    add_zone_argument,
    operator_actor,
    settings_from_args,
    zone_settings,
)
from tldsec.clock import SystemClock
from tldsec.cycle.state import UNSIGNED_NAME, zone_paths
from tldsec.errors import ConfigError, CycleError
from tldsec.progress import progress_lines
from tldsec.registry.context import rules_from_settings
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.names import normalize
from tldsec.registry.zonedigest import accept_rows
from tldsec.registry.zonerows import zone_id_of
from tldsec.settings import Settings
from tldsec.zone.builder import build_from_registry, write_zone
from tldsec.zone.buildinfo import BuildInfo
from tldsec.zone.quarantine import KINDS, LEDGER, Quarantined, resolved


def register(sub: Any) -> None:
    zone = sub.add_parser("zone", help="the TLD zone built from the registry")
    commands = zone.add_subparsers(dest="zone_command", metavar="ACTION", required=True)
    build = commands.add_parser(
        "build", help="write the unsigned zone (SOA, apex, delegations, DS, glue) to a file"
    )
    add_home_argument(build)
    add_zone_argument(build)
    build.add_argument("-o", "--output", required=True, type=Path, metavar="FILE")
    build.set_defaults(handler=_build)

    quarantine = commands.add_parser(
        "quarantine",
        help="registry objects withheld from the zone for breaking a rule (DPS 3.5.2)",
        description="The zone builder checks every delegation and glue host with the "
        "rules EPP applies; one that breaks a rule is withheld (its previous records "
        "stay, or it is left out) and the rest of the zone is published. Each cycle "
        "checks the withheld objects again and publishes those the database fixed.",
    )
    actions = quarantine.add_subparsers(dest="quarantine_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the withheld objects, the rules each breaks")
    add_home_argument(listing)
    listing.add_argument(
        "--zone", metavar="ORIGIN", help="only this zone (default: every zone of the home)"
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_quarantine_list)
    release = actions.add_parser(
        "release",
        help="check a withheld object against the database now and publish it if valid",
    )
    add_home_argument(release)
    add_zone_argument(release)
    release.add_argument("name", help="the domain or host name")
    release.add_argument("--kind", choices=KINDS, help="domain or host, when both are withheld")
    release.add_argument(
        "--no-cycle", action="store_true", help="do not run the cycle that publishes it"
    )
    release.add_argument(
        "--accept-rows",
        action="store_true",
        help="for a name held because its rows differ from the registry's digest "
        "(registry-ledger): vouch for the rows as they are now (audited)",
    )
    release.set_defaults(handler=_quarantine_release)
    zone_admin.register(commands)  # zone add, zone list (decision 68)


def _build(args: argparse.Namespace) -> int:
    settings = zone_settings(args, databases=("registry",))  # the one it reads
    if settings.apex is None:
        raise ConfigError("[zone] apex settings are missing")
    db = RegistryDatabase.from_url(settings.registry_db_url)
    try:
        with db.read() as session:
            zone_id = zone_id_of(session, settings.origin)
        zone, built_at = build_from_registry(
            db,
            zone_id=zone_id,
            origin=settings.origin,
            apex=settings.apex,
            ttl=settings.policy.ttl,
            rules=rules_from_settings(settings),
            clock=SystemClock(),
            progress=progress_lines("zone build"),
        )
    finally:
        db.dispose()
    write_zone(zone, args.output, built_at, progress_lines("zone build"))
    print(
        f"{args.output}: {zone.origin} serial {zone.serial}, {len(zone.records)} records, "
        f"{zone.delegations} delegations ({zone.signed_delegations} with DS), "
        f"{zone.glue_hosts} glue hosts, {len(zone.orphan_hosts)} orphaned"
    )
    for q in zone.quarantined:
        print(f"withheld {q.kind} {q.name}: {q.message}")
    return 0


def _quarantine_list(args: argparse.Namespace) -> int:
    """A report (decision 57): every zone, or ``--zone``'s; a one-zone home prints as
    before, several one ``== origin ==`` section (JSON ``{"zones": ...}``) each."""
    home = settings_from_args(args)
    listed = {z.origin: _entries(z) for z in home.selected_zones(args.zone)}
    if len(home.zones) > 1:
        if args.json:
            zones = {o: [q.as_json() for q in entries] for o, entries in listed.items()}
            print(json.dumps({"zones": zones}, indent=1))
            return 0
        for origin, entries in listed.items():
            print(f"== {origin} ==")
            _print_entries(entries)
        return 0
    entries = next(iter(listed.values()))
    if args.json:
        print(json.dumps([q.as_json() for q in entries], indent=1))
        return 0
    _print_entries(entries)
    return 0


def _print_entries(entries: tuple[Quarantined, ...]) -> None:
    if not entries:
        print("nothing is quarantined")
    for q in entries:
        since = datetime.fromtimestamp(q.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        what = "previous records kept" if q.kept else "left out"
        print(f"{q.kind} {q.name} since {since} ({what}): {', '.join(q.rules)}: {q.message}")


def _quarantine_release(args: argparse.Namespace) -> int:
    settings = zone_settings(args)  # the zone whose build withheld it
    name = normalize(args.name) if " " not in args.name.strip() else args.name
    matches = [
        q
        for q in _entries(settings)
        if q.name == name and (args.kind is None or q.kind == args.kind)
    ]
    if not matches:
        raise CycleError(f"{name!r} is not quarantined (see 'tldsec zone quarantine list')")
    if len(matches) > 1:
        raise CycleError(f"{name!r} is quarantined as a domain and as a host: pass --kind")
    entry = matches[0]
    clock = SystemClock()
    accepted: dict[str, str] = {}
    db = RegistryDatabase.from_url(settings.registry_db_url)
    try:
        with db.read() as session:
            zone_id = zone_id_of(session, settings.origin)
        if args.accept_rows:
            if LEDGER not in entry.rules:
                raise CycleError(
                    f"{entry.kind} {entry.name} is not held for differing from the "
                    "registry's digest: --accept-rows does not apply"
                )
            with db.read() as session:
                others = [r for r in entry.rules if r != LEDGER]
                if others and not resolved(
                    session,
                    rules_from_settings(settings),
                    [replace(entry, rules=tuple(others))],
                    zone_id,
                ):
                    raise CycleError(
                        f"{entry.kind} {entry.name} still breaks the registry's rules "
                        f"({', '.join(others)}): fix it in the registry first"
                    )
            with db.write() as session:
                before, after = accept_rows(session, entry.name, clock.now(), zone_id)
            accepted = {"digest_before": before.hex(), "digest_after": after.hex()}
        with db.read() as session:
            fixed = resolved(session, rules_from_settings(settings), [entry], zone_id)
    finally:
        db.dispose()
    if not fixed:
        raise CycleError(
            f"{entry.kind} {entry.name} still breaks the registry's rules "
            f"({', '.join(entry.rules)}): fix it in the registry first; it is published "
            "at the next cycle after that"
        )
    from tldsec.audit.config import open_audit_log

    audit = open_audit_log(settings, clock)
    try:
        audit.record(
            "zone.quarantine_released",
            actor=operator_actor(),
            zone=settings.origin,
            kind=entry.kind,
            name=entry.name,
            reason="released by the operator after checking the registry's rows",
            **accepted,
        )
    finally:
        audit.close()
    print(f"{entry.kind} {entry.name} passes the registry's rules now")
    if args.no_cycle:
        print("it is published at the next cycle ('tldsec cycle', or tldsec serve's own)")
        return 0
    from tldsec.cycle import open_cycle

    with open_cycle(settings, clock) as cycle:
        result = cycle.run()
    print(result.summary(), flush=True)
    return 0 if result.ok else 1


def _entries(settings: Settings) -> tuple[Quarantined, ...]:
    info = BuildInfo.load(zone_paths(settings).work / UNSIGNED_NAME)
    return () if info is None else info.quarantine
