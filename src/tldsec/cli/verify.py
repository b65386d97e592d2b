"""``tldsec verify``: every check of a signed zone, a report, and with ``--gate`` the
refusal to publish a zone that fails (DPS 6.6).

Exit status 0 only if every check passed; 1 if any failed (or the command could not
run). The human summary goes to stdout; ``--json FILE`` (or ``-`` for stdout instead of
the summary) writes the JSON report.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tldsec.cli.common import add_home_argument, file_zone_settings
from tldsec.clock import SystemClock
from tldsec.errors import AuditError, ConfigError, ExitCode, KeyStoreError, TldsecError
from tldsec.hsm.base import KeyStore
from tldsec.policy import load_policy
from tldsec.progress import progress_lines
from tldsec.settings import CONFIG_NAME, Settings, VerifySettings, home_from, load_settings
from tldsec.verify.driver import verify_zone
from tldsec.verify.gate import Recorder
from tldsec.verify.options import VerifyOptions, VerifyRequest
from tldsec.verify.report import Report
from tldsec.zonegate import gate

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="verify a signed zone with independent checks and external validators",
        description="Check a signed zone before it is distributed (DPS 6.6): the chain of "
        "trust from the trust anchor, every RRSIG, what is and is not signed, the NSEC3 "
        "chain, TTLs, the unsigned content (--unsigned), the serial (--previous), a "
        "second signing implementation (dnspython, through the home's key store) and "
        "the external validators of the [verify] table. Every failure is reported. "
        "With --gate --publish-to PATH the zone is copied to PATH atomically only if "
        "every check passed; otherwise PATH keeps the last good zone.",
    )
    add_home_argument(p)
    p.add_argument("signed", type=Path, help="the signed zone file")
    p.add_argument(
        "--zone",
        metavar="ORIGIN",
        help="the home's zone whose policy and keys apply (default: --origin's, or the only zone)",
    )
    p.add_argument("--origin", help="zone origin (default: the --zone's)")
    p.add_argument(
        "--trust-anchor",
        type=Path,
        required=True,
        metavar="FILE",
        help="DS records the parent publishes for the zone (or DNSKEY records)",
    )
    p.add_argument("--unsigned", type=Path, help="the unsigned zone it was signed from")
    p.add_argument("--previous", type=Path, help="the previous signed zone (serial must grow)")
    p.add_argument("--json", metavar="FILE", help="write the JSON report to FILE ('-': stdout)")
    p.add_argument(
        "--gate", action="store_true", help="publish only if every check passed (--publish-to)"
    )
    p.add_argument("--publish-to", type=Path, metavar="PATH", help="where --gate publishes")
    ext = p.add_mutually_exclusive_group()
    ext.add_argument(
        "--external",
        action="append",
        metavar="TOOL",
        help="run this external validator (repeatable; default: the [verify] table's)",
    )
    ext.add_argument("--no-external", action="store_true", help="run no external validator")
    p.add_argument(
        "--sample",
        metavar="N|all",
        help="RRsets the second implementation re-signs (default: [verify] second_sample)",
    )
    p.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    p.add_argument(
        "--no-keystore",
        action="store_true",
        help="do not open the home's key store (the second-implementation check is skipped)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.gate != (args.publish_to is not None):
        raise ConfigError("--gate and --publish-to go together")
    settings = _settings(args)
    origin = args.origin or (settings.origin if settings else None)
    if not origin:
        raise ConfigError("no origin: give --origin, or a home whose [zone] has one")
    options = _options(args, settings)
    request = VerifyRequest(
        signed=args.signed,
        origin=origin,
        trust_anchor=args.trust_anchor,
        unsigned=args.unsigned,
        previous=args.previous,
    )
    now = SystemClock().now()
    keystore = _keystore(args, settings)
    try:
        if args.gate:
            result = gate(
                request,
                options,
                now,
                publish_to=args.publish_to,
                keystore=keystore,
                opener=_opener(),
                recorder=_recorder(settings),
                progress=progress_lines("verify"),
            )
            report = result.report
        else:
            report = verify_zone(
                request,
                options,
                now,
                keystore=keystore,
                opener=_opener(),
                progress=progress_lines("verify"),
            )
    finally:
        if keystore is not None:
            keystore.close()
    _output(args, report)
    if args.gate:
        where = f"published to {args.publish_to}" if report.passed else "NOT published"
        print(f"gate: {where}", file=sys.stderr if args.json == "-" else sys.stdout)
    return ExitCode.OK if report.passed else ExitCode.INTEGRITY


def _settings(args: argparse.Namespace) -> Settings | None:
    """The home's settings if there is a home; the verifier also runs without one."""
    home = home_from(args.home)
    if args.home is None and not (home / CONFIG_NAME).exists():
        return None
    from tldsec.cli.pins import OfficerPins  # the SO's PIN, asked only if the HSM opens

    settings = file_zone_settings(load_settings(home), args.zone, args.origin)
    return dataclasses.replace(
        settings, pin_provider=OfficerPins(home=home, pin_file=args.pin_file)
    )


def _options(args: argparse.Namespace, settings: Settings | None) -> VerifyOptions:
    options = VerifyOptions.from_settings(
        settings.policy if settings else load_policy(),
        settings.verify if settings else VerifySettings(),
    )
    if args.external:
        options = replace(options, external=tuple(args.external))
    if args.no_external:
        options = replace(options, external=())
    if args.sample is not None:
        if args.sample == "all":
            options = replace(options, second_sample=None)
        elif args.sample.isdigit():
            options = replace(options, second_sample=int(args.sample))
        else:
            raise ConfigError(f"--sample {args.sample!r}: give a number or 'all'")
    if args.workers is not None:
        options = replace(options, workers=args.workers)
    return options


def _keystore(args: argparse.Namespace, settings: Settings | None) -> KeyStore | None:
    if settings is None or args.no_keystore:
        return None
    from tldsec.hsm.open import open_keystore

    return open_keystore(settings.keystore_spec())


def _opener() -> Callable[..., KeyStore]:
    from tldsec.hsm.open import open_keystore

    return open_keystore


def _recorder(settings: Settings | None) -> Recorder | None:
    """The home's audit log, if it can be opened; the gate logs a line in any case."""
    if settings is None:
        return None
    try:
        from tldsec.audit.config import open_audit_log

        audit = open_audit_log(settings, SystemClock())
    except (AuditError, ConfigError, KeyStoreError) as exc:
        log.warning("no audit log (%s): the gate's verdict is only logged", exc)
        return None
    return audit.record


def _output(args: argparse.Namespace, report: Report) -> None:
    if args.json == "-":
        print(report.to_json())
        return
    print(report.summary())
    if args.json:
        try:
            Path(args.json).write_text(report.to_json() + "\n", "utf-8")
        except OSError as exc:
            raise TldsecError(f"cannot write {args.json}: {exc.strerror}") from exc
