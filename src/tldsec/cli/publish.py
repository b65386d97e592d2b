"""``tldsec publish``: write the public DNSSEC repository (DPS 2.1, 2.2; docs/publication.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tldsec.audit.config import open_audit_log
from tldsec.cli.common import (
    add_home_argument,
    add_zone_argument,
    settings_from_args,
    zone_settings,
)
from tldsec.clock import SystemClock
from tldsec.errors import ConfigError
from tldsec.keys.database import open_signer_db
from tldsec.publish.home import output_dir, publish_home


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "publish",
        help="write the public DNSSEC repository: DPS, DS, keys, calendar, incidents",
        description="Write the public repository as a static site (DPS 2.1, 2.2): the DPS in "
        "force and its history, the DS set for the root and the DNSKEY set, every key's "
        "history, the rollover calendar, incident notices, JSON and zone-file copies. "
        "The directory is a symbolic link replaced at once (atomic).",
    )
    add_home_argument(p)
    add_zone_argument(p)
    p.add_argument(
        "-o", "--output", metavar="DIR", help="where to write (default: [publish] directory)"
    )
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(handler=_publish)


def _publish(args: argparse.Namespace) -> int:
    several = len(settings_from_args(args).zones) > 1
    settings = zone_settings(args)  # one zone's site: its keys, DS, calendar, incidents
    if several and args.output is None and "{zone}" not in settings.config.publish.directory:
        # Two zones' sites in one directory would replace each other (decision 68).
        raise ConfigError(
            f"[publish] directory of {settings.source} ({output_dir(settings)}) is one "
            "directory for every zone of this home: write {zone} in it (e.g. "
            '"public/{zone}") or pass -o DIR'
        )
    clock = SystemClock()
    engine = open_signer_db(settings.signer_db_url)
    audit = open_audit_log(settings, clock)
    try:
        done = publish_home(
            settings, engine, audit, clock.now(), Path(args.output) if args.output else None
        )
        assert done is not None  # no ``unless``: always written
    finally:
        audit.close()
        engine.dispose()
    if args.json:
        print(json.dumps({"directory": str(done.directory), "version": str(done.version_dir),
                          "files": list(done.files), "dps_version": done.dps_version,
                          "ds": list(done.ds_tags)}, indent=2))  # fmt: skip
    else:
        print(f"published {len(done.files)} files to {done.directory} -> {done.version_dir}")
        print(f"DPS in force: {done.dps_version or 'none'}; DS key tags: "
              f"{' '.join(map(str, done.ds_tags)) or 'none'}")  # fmt: skip
    return 0
