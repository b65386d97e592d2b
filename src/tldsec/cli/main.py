"""Entry point of the ``tldsec`` command.

Every failure ends as one line on stderr and an exit code from ``ExitCode`` (0 ok, 1
failed, 2 usage, 3 integrity, 4 waiting/needed; docs/operations.md). With ``--json`` the
same failure is also a JSON object on stdout, so a script that reads stdout learns why.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import Any

from tldsec import __version__
from tldsec.cli.errors import describe_failure
from tldsec.cli.outputs import check_outputs
from tldsec.errors import ExitCode, KeyStoreLocked, KeyStoreLoginError

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
    "registry",
    "epp",
    "console",
    "db",
    "cycle",
    "serve",
    "status",
    "policy",
    "config",
    "publish",
    "notify",
    "pushcert",
    "trace",
)

EXIT_FAILURE = ExitCode.FAILED
EXIT_USAGE = ExitCode.USAGE
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what `cmd | head` reports for a Unix tool

# Global options, accepted before or after the command (moved after it before parsing).
GLOBAL_WITH_VALUE = ("--home",)
GLOBAL_FLAGS = ("--json", "--verbose")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command's (importing every command module
    costs a second or more, and a cycle runs ``tldsec cycle`` as a child process)."""
    parser = argparse.ArgumentParser(
        prog="tldsec",
        description="DNSSEC for a TLD registry, as its DNSSEC Policy Statement says. "
        "--home, -v and --json may come before or after the command. Exit codes: 0 ok, "
        "1 failed, 2 usage, 3 integrity (a zone refused, the audit log broken), "
        "4 waiting or needed (docs/operations.md).",
    )
    parser.add_argument("--version", action="version", version=f"tldsec {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    parser.add_argument("--home", metavar="DIR", help="the home directory, for any command")
    parser.add_argument("--json", action="store_true", help="JSON output, where offered")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES if only is None else (only,):
        import_module(f"tldsec.cli.{name}").register(sub)
    for leaf in _leaves(parser):
        if {"-v", "--verbose"} & leaf._option_string_actions.keys():
            continue  # the command has its own -v
        leaf.add_argument(
            "-v",
            "--verbose",
            action="count",
            default=argparse.SUPPRESS,
            help="more log output (-vv for debug)",
        )
    return parser


def _leaves(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of the commands themselves (those without sub-commands)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [parser]
    found: list[argparse.ArgumentParser] = []
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):  # aliases share a parser
            found.extend(_leaves(child))
    return found


def global_options_last(argv: Sequence[str]) -> list[str]:
    """``argv`` with the global options given before the command moved after it, where
    every command's parser reads them (``tldsec --home H init`` = ``tldsec init --home H``)."""
    moved: list[str] = []
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if name in GLOBAL_WITH_VALUE:
            take = 1 if "=" in arg else 2
        elif name in GLOBAL_FLAGS or (len(arg) > 1 and set(arg[1:]) == {"v"}):
            take = 1
        else:
            return list(argv)  # --help, --version, or a mistake: argparse says which
        moved.extend(argv[i : i + take])
        i += take
    rest = list(argv[i:])
    if "--" in rest:
        cut = rest.index("--")
        return rest[:cut] + moved + rest[cut:]
    return rest + moved


def _command(argv: Sequence[str]) -> str | None:
    """The command named on the line, if it is one of ours (else the full parser)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMAND_MODULES else None


def main(argv: Sequence[str] | None = None) -> int:
    line = global_options_last(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command(line))
    args = parser.parse_args(line)
    verbose = getattr(args, "verbose", 0)
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        check_outputs(args)  # before any work: a run must not end on an unwritable file
        try:
            result: int = args.handler(args)
        finally:
            _audit_restored_tokens(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return result
    except BrokenPipeError:
        return _broken_pipe()
    except KeyboardInterrupt:
        print("tldsec: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if isinstance(exc, KeyStoreLoginError) and not isinstance(exc, KeyStoreLocked):
            _audit_hsm_login_failure(args, exc)  # locked: no login was tried
        failure = describe_failure(exc, args)
        if failure.unexpected:
            if verbose:
                logging.getLogger("tldsec").exception("unexpected error")
            _audit_crash(args, exc)
        try:
            if getattr(args, "json", None) in (True, "-"):  # verify --json takes a file
                print(json.dumps(failure.as_json()), flush=True)
            print(f"tldsec: error: {failure.message}", file=sys.stderr, flush=True)
        except BrokenPipeError:
            return _broken_pipe()
        return failure.exit_code


def _broken_pipe() -> int:
    """The reader went away (``tldsec status | head -1``): stop quietly, as Unix tools
    do. stdout is pointed at /dev/null so the interpreter's last flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def _audit_hsm_login_failure(args: argparse.Namespace, exc: KeyStoreLoginError) -> None:
    """DPS 4.4.1, 5.5: a refused HSM login (a wrong PIN) is an access failure, recorded
    whichever command met it (a cycle child's too), by whoever ran the command."""
    _audit_failure(
        args, "the failed HSM login", "access.login_failed", channel="hsm", error=str(exc)
    )


def _audit_crash(args: argparse.Namespace, exc: BaseException) -> None:
    """DPS 4.4.1: a command of a home that ends on a bug (an exception tldsec does not
    know) is a ``system.crash`` of that command. A command run without a home (``--help``,
    ``policy show`` of a file) has no log to write to, and says nothing."""
    if getattr(args, "loaded_settings", None) is None:
        return
    _audit_failure(
        args,
        "the crash",
        "system.crash",
        component="cli",
        kind=type(exc).__name__,
        error=" ".join(str(exc).split())[:2000],
    )


def _audit_restored_tokens(args: argparse.Namespace) -> None:
    """Decision 81: a SoftHSM2 token record this command restored from its good copy and
    did not record itself (a command whose audit log opened before its key store) is
    recorded here, in the log without its key, whether the command succeeded or not."""
    if "tldsec.hsm.p11lib" not in sys.modules:
        return  # no PKCS#11 module was loaded: nothing can have been restored
    from tldsec.hsm import p11lib

    for repair in p11lib.take_restored():
        _audit_failure(
            args,
            "the restored token record",
            "hsm.token_record_restored",
            **repair.details(),
        )


def _audit_failure(args: argparse.Namespace, what: str, event: str, **details: Any) -> None:
    """Record ``event`` in the home's audit log without its key (the key may be in an HSM
    that is the failure), by whoever ran the command; warn, never raise, if it cannot be."""
    from tldsec.audit.config import open_unsigned_log
    from tldsec.cli.common import operator_actor, settings_from_args
    from tldsec.clock import SystemClock

    command = str(getattr(args, "command", "") or "")
    actor = "component:cycle" if command == "cycle" else operator_actor()
    try:
        log = open_unsigned_log(settings_from_args(args, databases=("audit",)), SystemClock())
    except Exception as audit_exc:  # no home given, or its audit database is away
        print(f"tldsec: warning: {what} is not audited: {audit_exc}", file=sys.stderr)
        return
    try:
        log.record(event, actor=actor, command=command, **details)
    except Exception as audit_exc:
        print(f"tldsec: warning: {what} is not audited: {audit_exc}", file=sys.stderr)
    finally:
        log.close()


if __name__ == "__main__":
    sys.exit(main())
