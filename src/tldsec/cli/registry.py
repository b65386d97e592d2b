"""``tldsec registry import`` and ``export``: move a registry in bulk (issue 18 item 3).

An import is audited (``registry.imported``) with the operator (``person:<login>``) as
actor, after its last batch committed. Exit status: 0 when every object was imported
(or, with ``--dry-run``, would be), 1 when any was refused (the others are imported);
each refusal is one line on stderr naming the file position and the reason.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path
from typing import Any

from tldsec.audit.adapters import registry_recorder
from tldsec.audit.config import open_audit_log
from tldsec.cli.common import add_home_argument, operator_actor, settings_from_args
from tldsec.cli.registrar import _database
from tldsec.clock import SystemClock
from tldsec.errors import ExitCode
from tldsec.registry.context import Actor, Tx, rules_from_settings
from tldsec.registry.deposit.service import FORMATS, export_file, import_file
from tldsec.registry.passwords import production_hasher


def register(sub: Any) -> None:
    group = sub.add_parser("registry", help="move a registry in bulk: RFC 9022 deposits, CSV")
    actions = group.add_subparsers(dest="registry_command", metavar="ACTION", required=True)

    imp = actions.add_parser(
        "import", help="import registrars, contacts, hosts and domains from a deposit"
    )
    imp.add_argument("file", type=Path, metavar="FILE")
    imp.add_argument(
        "--format", choices=FORMATS, help="rde (RFC 9022 XML) or csv (default: by suffix)"
    )
    imp.add_argument(
        "--dry-run", action="store_true", help="only report what would be refused, write nothing"
    )
    imp.add_argument("--batch", type=int, default=20_000, metavar="N", help="objects a transaction")
    imp.add_argument("--workers", type=int, metavar="N", help="processes hashing plain authInfo")
    imp.set_defaults(handler=_import)

    exp = actions.add_parser("export", help="write the registry as an RFC 9022 full deposit")
    exp.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    exp.set_defaults(handler=_export)
    for parser in (imp, exp):
        add_home_argument(parser)


def _tx(args: argparse.Namespace, audit: Any) -> tuple[Any, Tx]:
    settings = settings_from_args(args)
    db = _database(settings)
    person = operator_actor()

    def as_operator(event: str, *, actor: str, **details: object) -> None:
        audit(event, actor=person, **details)

    tx = Tx(
        actor=Actor.registry(),
        now=SystemClock().now(),
        sv_trid=f"cli-{secrets.token_hex(6)}",
        rules=rules_from_settings(settings),
        hasher=production_hasher(),
        audit=as_operator,
    )
    return db, tx


def _import(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    log = None if args.dry_run else open_audit_log(settings, SystemClock())
    try:
        recorder = registry_recorder(log) if log is not None else _no_audit
        db, tx = _tx(args, recorder)
        try:
            report = import_file(
                db,
                args.file,
                tx,
                fmt=args.format,
                dry_run=args.dry_run,
                batch=args.batch,
                workers=args.workers,
            )
        finally:
            db.dispose()
    finally:
        if log is not None:
            log.close()
    for refusal in report.refused:
        print(f"refused: {refusal}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        read = ", ".join(f"{v} {k}" for k, v in report.read.items())
        if report.imported is None:
            print(f"dry run: read {read}; {len(report.refused)} would be refused")
        else:
            done = ", ".join(f"{v} {k}" for k, v in report.imported.as_dict().items())
            print(f"imported {done}; {len(report.refused)} refused (sha256 {report.sha256})")
    return int(ExitCode.FAILED) if report.refused else 0


def _no_audit(event: str, *, actor: str, **details: object) -> None:
    raise AssertionError("a dry run records nothing")


def _export(args: argparse.Namespace) -> int:
    db, tx = _tx(args, _no_audit)
    try:
        counts = export_file(db, args.output, tx)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps({"file": str(args.output), **counts}))
    else:
        print(f"wrote {args.output}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0
