"""Entry point of the ``tldsec`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import import_module

from tldsec import __version__
from tldsec.errors import KeyStoreLocked, KeyStoreLoginError, TldsecError

# Command-group modules under tldsec.cli, each with register(subparsers).
COMMAND_MODULES: tuple[str, ...] = (
    "init",
    "sign",
    "zone",
    "keys",
    "backup",
    "hsm",
    "ceremony",
    "audit",
    "verify",
    "registrar",
    "epp",
    "db",
    "cycle",
    "serve",
    "status",
    "policy",
)

EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command's (importing every command module
    costs a second or more, and a cycle runs ``tldsec cycle`` as a child process)."""
    parser = argparse.ArgumentParser(
        prog="tldsec",
        description="DNSSEC for a TLD registry, as its DNSSEC Policy Statement says.",
    )
    parser.add_argument("--version", action="version", version=f"tldsec {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES if only is None else (only,):
        import_module(f"tldsec.cli.{name}").register(sub)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command named on the line, if it is one of ours (else the full parser)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMAND_MODULES else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(_command(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result: int = args.handler(args)
    except KeyStoreLoginError as exc:
        if not isinstance(exc, KeyStoreLocked):  # locked: no login was tried
            _audit_hsm_login_failure(args, exc)
        print(f"tldsec: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except TldsecError as exc:
        print(f"tldsec: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("tldsec: interrupted", file=sys.stderr)
        return 130
    return result


def _audit_hsm_login_failure(args: argparse.Namespace, exc: KeyStoreLoginError) -> None:
    """DPS 4.4.1, 5.5: a refused HSM login (a wrong PIN) is an access failure, recorded
    whichever command met it (a cycle child's too), by whoever ran the command."""

    from tldsec.audit.config import open_unsigned_log
    from tldsec.cli.common import operator_actor, settings_from_args
    from tldsec.clock import SystemClock

    command = str(getattr(args, "command", "") or "")
    actor = "component:cycle" if command == "cycle" else operator_actor()
    try:
        log = open_unsigned_log(settings_from_args(args, databases=("audit",)), SystemClock())
    except (TldsecError, AttributeError) as audit_exc:  # no home given: nothing to record
        print(f"tldsec: warning: the failed HSM login is not audited: {audit_exc}", file=sys.stderr)
        return
    try:
        log.record(
            "access.login_failed", actor=actor, channel="hsm", command=command, error=str(exc)
        )
    except TldsecError as audit_exc:
        print(f"tldsec: warning: the failed HSM login is not audited: {audit_exc}", file=sys.stderr)
    finally:
        log.close()


if __name__ == "__main__":
    sys.exit(main())
