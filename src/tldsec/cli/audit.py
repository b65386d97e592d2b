"""``tldsec audit``: init, record, show, export, verify, watch, checkpoint, archive, purge,
export-key, events, grant.

Each action parses its arguments, makes one call into ``tldsec.audit`` and prints the
result. ``verify`` exits 3 when it finds a broken place (1 when it cannot run at all),
and needs no home when given archive files and a public key: an auditor runs it on
their own machine.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, func, select

from tldsec.atomicfile import replacing
from tldsec.audit.archive import archive_old_entries, destroy_expired_archives, purge_archived
from tldsec.audit.chain import VerifyReport
from tldsec.audit.config import audit_config, open_audit_log, open_signer, resolve_backend
from tldsec.audit.entry import zone_name
from tldsec.audit.events import CATALOGUE, Actor, EventType, Level
from tldsec.audit.export import period_range, write_period_export
from tldsec.audit.log import AuditLog
from tldsec.audit.models import ENTRIES
from tldsec.audit.query import EntryFilter, iter_entries, load_checkpoints, write_csv, write_jsonl
from tldsec.audit.report_page import compliance_page, write_pdf
from tldsec.audit.retention import audit_retention
from tldsec.audit.schema import (
    current_revision,
    ensure_schema,
    grant_app_role,
    grant_maintenance_role,
)
from tldsec.audit.signing import key_id_of, load_public_key, public_key_pem
from tldsec.audit.sources import archive_input
from tldsec.audit.verification import describe, verify_database, verify_input
from tldsec.audit.watch import AuditWatch, WatchState
from tldsec.cli.common import add_home_argument, settings_from_args
from tldsec.cli.outputs import OutputPath
from tldsec.clock import SystemClock
from tldsec.db.base import make_engine
from tldsec.errors import AuditError, ConfigError

EXIT_BROKEN = 3
AUDIT_ONLY = ("audit",)  # the audit commands open no other database
WATCH_STATE = "audit-watch.json"
Handler = Callable[[argparse.Namespace], int]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "audit",
        help="the tamper-evident audit log: record, show, export, verify, archive",
        description="The audit log of every DNSSEC-relevant event (DPS 4.4): a hash chain "
        "with checkpoints signed by the audit key, verifiable by an outside auditor.",
    )
    acts = p.add_subparsers(dest="audit_action", metavar="ACTION", required=True)

    def action(name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
        a = acts.add_parser(name, help=help_text, description=help_text)
        add_home_argument(a)
        a.set_defaults(handler=handler)
        return a

    a = action("init", "create the audit database and the audit key", _init)
    a.add_argument(
        "--new-key", action="store_true", help="replace a lost audit key (recorded; rare)"
    )
    a = action("record", "record an event by hand (DPS 4.4.1: manual entries)", _record)
    a.add_argument("event", help="event type (see 'tldsec audit events')")
    a.add_argument("--actor", required=True, help="person:NAME, registrar:ID or component:NAME")
    a.add_argument("--level", help="override the catalogue's level")
    a.add_argument(
        "--zone",
        metavar="ORIGIN",
        help="the zone the entry concerns (default: the home's origin for a key, DS, "
        "signing or publication event, none for an installation-wide one)",
    )
    a.add_argument("--detail", action="append", default=[], metavar="KEY=VALUE")
    for name, what, handler in (
        ("show", "show entries, filtered", _show),
        ("export", "export entries as JSON Lines or CSV", _export),
    ):
        a = action(name, what, handler)
        _add_filters(a)
        _add_actor(a)
        if name == "show":
            a.add_argument("--json", action="store_true", help="a JSON array of the entries")
        if name == "export":
            a.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
            a.add_argument(
                "--output", "-o", action=OutputPath, help="file to write (default: stdout)"
            )
    a = action("verify", "recompute the chain and check the signed checkpoints", _verify)
    a.add_argument("--from", dest="start", metavar="SEQ|TIME", help="first entry to check")
    a.add_argument("--to", dest="end", metavar="SEQ|TIME", help="last entry to check")
    a.add_argument(
        "--archive", action="append", type=Path, default=[], metavar="FILE",
        help="verify archive or export files instead of the database (repeatable)",
    )  # fmt: skip
    a.add_argument(
        "--public-key", action="append", type=Path, default=[], metavar="FILE",
        help="trust only these audit public keys (PEM; repeatable)",
    )  # fmt: skip
    a.add_argument("--no-record", action="store_true", help="do not record the result in the log")
    _add_actor(a)
    a = action(
        "watch",
        "analyse new entries as they come: chain integrity, and alerts at --level or above "
        "(DPS 4.4.2; tldsec serve runs the same check)",
        _watch,
    )
    a.add_argument("--level", type=_level, default=Level.WARNING, help="alert level (warning)")
    a.add_argument("--interval", type=float, default=10.0, help="seconds between checks")
    a.add_argument(
        "--from-seq",
        type=int,
        metavar="N",
        help="start after entry N (default: the newest; with --once, the state file)",
    )
    a.add_argument(
        "--once",
        action="store_true",
        help="check everything since the previous run and exit (1 on an integrity alarm): "
        "for cron; the position is kept in --state",
    )
    a.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help=f"where --once keeps its position (default HOME/{WATCH_STATE})",
    )
    a = action(
        "report",
        "the compliance audit report of a period (DPS 7): HTML, or PDF through headless Chromium",
        _report,
    )
    a.add_argument("--from", dest="start", type=_time, required=True, metavar="DATE")
    a.add_argument("--to", dest="end", type=_time, required=True, metavar="DATE",
                   help="the period's end (exclusive)")  # fmt: skip
    a.add_argument("--output", "-o", type=Path, required=True, help="report.html or report.pdf")
    a.add_argument(
        "--zone",
        metavar="ORIGIN",
        help="report on this zone: its entries and the installation-wide ones "
        "(default: every entry, titled with the home's origin)",
    )
    _add_actor(a)
    action("checkpoint", "sign a checkpoint of the head now", _checkpoint)
    a = action("archive", "move entries past the on-line retention to a signed file", _archive)
    _add_actor(a)
    a = action("purge", "drop archived entries from the on-line log", _purge)
    a.add_argument(
        "--expired-archives",
        action="store_true",
        help="also delete archive files past the archive retention",
    )
    _add_actor(a)
    a = action("export-key", "print the audit public key (PEM) for auditors", _export_key)
    a.add_argument("--output", "-o", action=OutputPath, help="file to write (default: stdout)")
    acts.add_parser("events", help="list the event catalogue").set_defaults(handler=_events)
    a = action("grant", "PostgreSQL: give a role append-only access to the log", _grant)
    a.add_argument("role")
    a.add_argument(
        "--maintenance",
        action="store_true",
        help="the separate maintenance role that alone may purge archived entries "
        "([audit] maintenance_url); the application role must not be able to assume it",
    )


def _add_filters(a: argparse.ArgumentParser) -> None:
    a.add_argument("--since", type=_time, metavar="TIME", help="entries at or after (UTC)")
    a.add_argument("--until", type=_time, metavar="TIME", help="entries before (UTC)")
    a.add_argument(
        "--event", action="append", default=[], help="event type, or a prefix like 'key.'"
    )
    a.add_argument("--actor-filter", dest="who", metavar="ACTOR", help="kind:name or kind:")
    a.add_argument("--level", type=_level, help="at least this level")
    a.add_argument("--from", dest="from_seq", type=int, metavar="SEQ")
    a.add_argument("--to", dest="to_seq", type=int, metavar="SEQ")
    a.add_argument("--limit", type=int)
    a.add_argument(
        "--zone",
        metavar="ORIGIN",
        help="entries of this zone, and those naming none (installation-wide, or written "
        "before entries named their zone)",
    )


def _add_actor(a: argparse.ArgumentParser) -> None:
    a.add_argument(
        "--actor",
        default=None,
        help="who is acting, recorded in the log (default: person:$USER)",
    )


def _actor(args: argparse.Namespace) -> str:
    actor = args.actor or f"person:{getpass.getuser()}"
    try:
        return str(Actor.parse(actor))
    except ValueError as exc:
        raise AuditError(str(exc)) from exc


def _time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or time") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _level(text: str) -> Level:
    try:
        return Level.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@contextmanager
def _log(
    args: argparse.Namespace, *, create: bool = False, new_key: bool = False
) -> Iterator[AuditLog]:
    settings = settings_from_args(args, databases=() if create else AUDIT_ONLY)
    log = open_audit_log(settings, SystemClock(), create=create, new_key=new_key)
    try:
        yield log
    finally:
        log.close()


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    try:
        with path.open("w", encoding="utf-8", newline="") as out:
            yield out
    except OSError as exc:
        raise AuditError(f"cannot write {path}: {exc.strerror}") from exc


def _init(args: argparse.Namespace) -> int:
    settings = settings_from_args(args, databases=())  # creates the audit log
    config = audit_config(settings)
    with _log(args, create=True, new_key=args.new_key) as log:
        assert log.signer is not None
        log.checkpoint()  # a new log starts out signed
        backend = resolve_backend(settings, config)
        where = config.key_file if backend == "file" else f"token {settings.keystore.token_label!r}"
        key = log.signer.key_id
        print(f"audit log: {log.head().seq} entries; audit key {key} ({backend}: {where})")
    return 0


def _record(args: argparse.Namespace) -> int:
    details: dict[str, Any] = {}
    for item in args.detail:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise AuditError(f"--detail {item!r}: use KEY=VALUE")
        if key in ("actor", "level", "zone"):
            raise AuditError(f"--detail {item!r}: {key} is a field of the entry: use --{key}")
        details[key] = value
    with _log(args) as log:
        entry = log.record(
            args.event, actor=args.actor, level=args.level, zone=args.zone, **details
        )
    print(f"recorded seq {entry.seq} {entry.event} by {entry.actor}")
    return 0


def _filter(args: argparse.Namespace) -> EntryFilter:
    for event in args.event:
        if not event.endswith(".") and event not in {e.value for e in EventType}:
            raise AuditError(f"unknown audit event type {event!r} (see 'tldsec audit events')")
    return EntryFilter(
        since=args.since,
        until=args.until,
        events=tuple(args.event),
        actor=args.who,
        min_level=args.level,
        from_seq=args.from_seq,
        to_seq=args.to_seq,
        limit=args.limit,
        zone=_zone(args.zone),
    )


def _zone(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return zone_name(text)
    except ValueError as exc:
        raise AuditError(f"--zone: {exc}") from exc


def _watch(args: argparse.Namespace) -> int:
    settings = settings_from_args(args, databases=AUDIT_ONLY)
    state_file = args.state or settings.home / WATCH_STATE
    with _log(args) as log:
        saved = WatchState.load(state_file) if args.once and args.from_seq is None else None
        if args.from_seq is not None:
            watch = AuditWatch(log.engine, alert_level=args.level, seq=max(0, args.from_seq))
        elif args.once:
            # cron: from where the previous run stopped, or the whole log the first time
            start = saved or WatchState(0, None)
            watch = AuditWatch(log.engine, alert_level=args.level, seq=start.seq, hash=start.hash)
        else:
            watch = AuditWatch.from_head(log.engine, alert_level=args.level)
        if not args.once:
            print(f"watching the audit log after entry {watch.seq} (Ctrl-C stops)", flush=True)
        try:
            while True:
                for alert in watch.check():
                    print(alert.line(), flush=True)
                if args.once:
                    if not watch.integrity_alarms:
                        watch.state.save(state_file)  # an alarm is seen again next run
                    return 1 if watch.integrity_alarms else 0
                time.sleep(args.interval)
        except KeyboardInterrupt:
            return 1 if watch.integrity_alarms else 0


def _show(args: argparse.Namespace) -> int:
    flt = _filter(args)
    with _log(args) as log:
        n = 0
        if args.json:
            print("[")  # streamed: the log may be long
        for e in iter_entries(log.engine, flt):
            if args.json:
                print(("," if n else "") + json.dumps(e.to_record(), sort_keys=True))
                n += 1
                continue
            details = json.dumps(dict(e.details), sort_keys=True, ensure_ascii=False)
            print(
                f"{e.seq:>8}  {e.time:%Y-%m-%dT%H:%M:%S.%fZ}  {e.level:<8}  {e.event:<24}  "
                f"{e.actor:<22}  {e.zone or '-':<12}  {details}"
            )
            n += 1
        if args.json:
            print("]")
        log.record(
            EventType.AUDIT_EXPORTED, actor=_actor(args), zone=flt.zone, action="show", entries=n
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    flt = _filter(args)
    period = args.format == "jsonl" and _is_period(flt)
    settings = settings_from_args(args, databases=AUDIT_ONLY)
    with _log(args) as log, _output(args.output) as out:
        if period:
            assert log.signer is not None
            log.checkpoint()  # the newest entries signed too, before they are verified
            first, last = period_range(log, flt.since, flt.until)
            first, last = max(first, flt.from_seq or first), min(last, flt.to_seq or last)
            config = audit_config(settings)
            anchors = config.anchors()
            try:
                n = write_period_export(
                    log,
                    out,
                    first_seq=first,
                    last_seq=last,
                    keys={log.signer.key_id: log.signer.public_key()},
                    archive_dir=config.archive_dir,
                    # What 'tldsec audit verify' checks with (decisions 79, 80).
                    archive_retention=audit_retention(settings).policy.archive_retention,
                    anchors=anchors,
                ).entries
            finally:
                for anchor in anchors:
                    closer = getattr(anchor, "close", None)
                    if closer is not None:
                        closer()
        else:
            entries = iter_entries(log.engine, flt)
            if args.format == "csv":
                n = write_csv(out, entries)
            else:
                # An unfiltered export carries its checkpoints, so it verifies on its own.
                cps = load_checkpoints(log.engine) if flt.whole_chain else []
                n = write_jsonl(out, entries, cps)
        log.record(
            EventType.AUDIT_EXPORTED,
            actor=_actor(args),
            zone=flt.zone,
            action="export",
            format=args.format,
            entries=n,
            sealed=period,
            file=str(args.output) if args.output else "-",
        )
    if args.output is not None:
        print(f"exported {n} entries to {args.output}", file=sys.stderr)
    return 0


def _is_period(flt: EntryFilter) -> bool:
    """A stretch of the chain chosen by time or sequence number, nothing filtered out:
    exported sealed, so it verifies with only the public key."""
    bounded = any(x is not None for x in (flt.since, flt.until, flt.from_seq, flt.to_seq))
    return bounded and not (flt.events or flt.actor or flt.min_level or flt.limit or flt.zone)


def _verify(args: argparse.Namespace) -> int:
    keys: dict[str, Ed25519PublicKey] = {}
    for path in args.public_key:
        key = load_public_key(path)
        keys[key_id_of(key)] = key
    if args.archive:
        if args.start or args.end:
            raise AuditError("--from/--to select entries of the database, not of archive files")
        if not keys:
            try:
                settings = settings_from_args(args, databases=())  # the key, not the log
            except ConfigError as exc:
                raise AuditError(
                    f"{exc}; to verify archive files elsewhere, give the audit public key "
                    "with --public-key FILE"
                ) from exc
            signer = open_signer(settings, audit_config(settings))
            keys[signer.key_id] = signer.public_key()
            signer.close()
        report = verify_input(archive_input(args.archive), keys)
        return _print_report(report, ", ".join(str(p) for p in args.archive))
    settings = settings_from_args(args, databases=AUDIT_ONLY)
    config = audit_config(settings)
    engine = make_engine(config.db_url)
    anchors = config.anchors()
    try:
        if current_revision(engine) is None:
            raise AuditError(f"there is no audit log in {settings.home}: run 'tldsec audit init'")
        # A log written by an older release is brought to this one's schema first, as
        # every other audit command does (0003 only adds a column: no entry changes).
        ensure_schema(engine)
        if not keys:
            signer = open_signer(settings, config)
            keys[signer.key_id] = signer.public_key()
            signer.close()
        checked = verify_database(
            engine,
            keys,
            now=SystemClock().now(),
            anchors=anchors,
            archive_dir=config.archive_dir,
            archive_retention=audit_retention(settings).policy.archive_retention,
            from_seq=_seq_bound(engine, args.start, first=True),
            to_seq=_seq_bound(engine, args.end, first=False),
        )
        report = checked.report
    finally:
        engine.dispose()
        for anchor in anchors:
            closer = getattr(anchor, "close", None)
            if closer is not None:
                closer()
    where = "the audit database"
    if args.start or args.end:
        where += f" (seq {report.first_seq}..{report.last_seq})"
    status = _print_report(report, where, describe(checked))
    if not args.no_record:
        event = EventType.AUDIT_VERIFIED if report.ok else EventType.AUDIT_VERIFICATION_FAILED
        try:
            with _log(args) as log:
                log.record(
                    event,
                    actor=_actor(args),
                    entries=report.entries,
                    first_seq=report.first_seq,
                    last_seq=report.last_seq,
                    findings=len(report.findings),
                    first_finding=str(report.findings[0]) if report.findings else None,
                )
        except AuditError as exc:
            if report.ok:
                raise
            # A damaged log may refuse the entry; the verdict above stands.
            print(f"tldsec: warning: result not recorded: {exc}", file=sys.stderr)
    return status


def _seq_bound(engine: Engine, text: str | None, *, first: bool) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        when = _time(text)
    except argparse.ArgumentTypeError as exc:
        raise AuditError(f"--from/--to: {exc}") from exc
    col = ENTRIES.c
    query = (
        select(func.min(col.seq)).where(col.time >= when)
        if first
        else select(func.max(col.seq)).where(col.time <= when)
    )
    with engine.connect() as conn:
        seq = conn.execute(query).scalar_one()
    if seq is None:
        raise AuditError(f"no entry {'at or after' if first else 'at or before'} {text}")
    return int(seq)


def _print_report(report: VerifyReport, where: str, notes: list[str] | None = None) -> int:
    span = f"seq {report.first_seq}-{report.last_seq}" if report.entries else "no entries"
    print(
        f"checked {report.entries} entries ({span}) of {where}; "
        f"{report.checkpoints_valid} of {report.checkpoints_total} signatures valid"
        + (f", signed up to seq {report.signed_upto}" if report.signed_upto else "")
    )
    for line in notes or []:
        print(line)
    tail = report.unsigned_tail
    if tail and report.ok:
        print(
            f"note: entries {tail[0]}-{tail[1]} come after the newest checkpoint (not yet signed)"
        )
    if report.ok:
        print("OK: the audit log is intact")
        return 0
    n = len(report.findings)
    print(f"BROKEN: {n} broken place{'s' if n != 1 else ''}; the first is {report.findings[0]}")
    for finding in report.findings:
        print(f"  {finding}")
    return EXIT_BROKEN


def _report(args: argparse.Namespace) -> int:
    if args.end <= args.start:
        raise AuditError("--to must be after --from")
    suffix = args.output.suffix.lower()
    if suffix not in (".html", ".htm", ".pdf"):
        raise AuditError(f"{args.output}: the report is written as .html or .pdf")
    settings = settings_from_args(args, databases=AUDIT_ONLY)
    config = audit_config(settings)
    zone = _zone(args.zone)
    with _log(args) as log:
        assert log.signer is not None
        html = compliance_page(
            log,
            settings,
            config,
            start=args.start,
            end=args.end,
            now=SystemClock().now(),
            zone=zone,
        )
        if suffix == ".pdf":
            write_pdf(html, args.output)
        else:
            with replacing(args.output, "w", encoding="utf-8") as out:
                out.write(html)
        log.record(
            EventType.AUDIT_EXPORTED,
            actor=_actor(args),
            action="report",
            zone=zone,
            start=args.start,
            end=args.end,
            file=str(args.output),
        )
    print(f"compliance report {args.start:%Y-%m-%d} to {args.end:%Y-%m-%d}: {args.output}")
    return 0


def _checkpoint(args: argparse.Namespace) -> int:
    with _log(args) as log:
        cp = log.checkpoint()
    print(f"checkpoint signed at seq {cp.seq}" if cp else "the head is already signed")
    return 0


def _archive(args: argparse.Namespace) -> int:
    settings = settings_from_args(args, databases=AUDIT_ONLY)
    config = audit_config(settings)
    with _log(args) as log:
        result = archive_old_entries(
            log,
            directory=config.archive_dir,
            online_retention=audit_retention(settings).policy.online_retention,
            actor=_actor(args),
        )
    if result is None:
        print("nothing to archive: no entry is past the on-line retention")
    else:
        print(f"archived seq {result.first_seq}-{result.last_seq} to {result.path}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    settings = settings_from_args(args, databases=AUDIT_ONLY)
    config = audit_config(settings)
    retention = audit_retention(settings).policy  # the longest of the zones' (decision 79)
    maintenance = make_engine(config.maintenance_url) if config.maintenance_url else None
    with _log(args) as log:
        assert log.signer is not None
        try:
            result = purge_archived(
                log,
                directory=config.archive_dir,
                online_retention=retention.online_retention,
                actor=_actor(args),
                keys={log.signer.key_id: log.signer.public_key()},
                maintenance=maintenance,
            )
        finally:
            if maintenance is not None:
                maintenance.dispose()
        destroyed = (
            destroy_expired_archives(
                log,
                directory=config.archive_dir,
                archive_retention=retention.archive_retention,
                actor=_actor(args),
            )
            if args.expired_archives
            else []
        )
    if result.removed:
        print(
            f"purged {result.removed} archived entries (seq {result.first_seq}-{result.last_seq})"
        )
    else:
        print("nothing to purge: no archived entry is past the on-line retention")
    for path in destroyed:
        print(f"deleted expired archive {path}")
    return 0


def _export_key(args: argparse.Namespace) -> int:
    settings = settings_from_args(args, databases=AUDIT_ONLY)
    signer = open_signer(settings, audit_config(settings))
    try:
        pem = public_key_pem(signer.public_key())
        key_id = signer.key_id
    finally:
        signer.close()
    with _output(args.output) as out:
        out.write(pem.decode("ascii"))
    print(f"audit key {key_id}", file=sys.stderr)
    return 0


def _events(args: argparse.Namespace) -> int:
    for event, info in CATALOGUE.items():
        scope = "zone" if event.concerns_a_zone else "-"
        print(f"{event.value:<28} {info.level.value:<8} {scope:<4} {info.description}")
    return 0


def _grant(args: argparse.Namespace) -> int:
    settings = settings_from_args(args, databases=AUDIT_ONLY)
    engine = make_engine(audit_config(settings).db_url)
    try:
        if args.maintenance:
            grant_maintenance_role(engine, args.role)
        else:
            grant_app_role(engine, args.role)
    finally:
        engine.dispose()
    if args.maintenance:
        print(f"role {args.role} may append, read, and purge archived entries through the function")
    else:
        print(f"role {args.role} may append to and read the audit log; it cannot change it")
    return 0
