"""Arguments and helpers shared by command groups."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from tldsec.settings import Settings, home_from, load_settings

if TYPE_CHECKING:
    from tldsec.audit.log import AuditLog
    from tldsec.ceremony.gate import Authorised


def add_home_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="tldsec home directory (default: $TLDSEC_HOME or ./tldsec-home)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    return load_settings(home_from(args.home))


def operator_actor() -> str:
    """The audit actor for a person at the command line: ``person:<login name>``."""
    import getpass
    import re

    name = re.sub(r"[^A-Za-z0-9._@+-]", "-", getpass.getuser())[:128] or "unknown"
    return f"person:{name}"


def default_processes() -> int:
    """One EPP process per core (decisions.md 15, which replaces 14): one process is
    bound to one core by the GIL, and once the DS hot path spent less time in Python a
    second process on two cores gave 40 % more transforms per second at 30 % less CPU
    per transform (docs/benchmarks.md)."""
    return max(1, os.cpu_count() or 1)


def ceremony_gate(
    settings: Settings,
    operation: str,
    params: dict[str, str],
    ceremony_id: str | None,
    audit: AuditLog,
) -> Authorised | None:
    """Refuse ``operation`` unless its ceremony authorises it, where the home requires
    one (``[ceremony] required``; ``ceremony/gate.py``, DPS 4.2.2, 5.2.2): the one call a
    gated command makes before it changes anything. The operator is the actor of what is
    recorded; the ceremony is used up (in the audit log) when this returns."""
    from tldsec.ceremony.gate import pass_gate  # only for the commands that need it
    from tldsec.clock import SystemClock

    return pass_gate(
        settings,
        operation,
        params,
        ceremony_id,
        now=SystemClock().now(),
        audit=audit,
        actor=operator_actor(),
    )


def ceremony_record(
    settings: Settings, authorised: Authorised | None, outcome: dict[str, Any], audit: AuditLog
) -> None:
    """After a gated run: the record of its ceremony with what came out (key tags, DS
    digests, an archive's SHA-256), for each participant to sign (DPS 5.1.1); nothing
    when no ceremony authorised the run."""
    from tldsec.ceremony.records import write_record
    from tldsec.clock import SystemClock

    write_record(settings, authorised, outcome, now=SystemClock().now(), audit=audit,
                 actor=operator_actor())  # fmt: skip


def add_ceremony_argument(parser: argparse.ArgumentParser) -> None:
    """``--ceremony ID`` for a command the ceremony gate guards."""
    parser.add_argument(
        "--ceremony",
        metavar="ID",
        help="the key ceremony that authorises this run (tldsec ceremony; DPS 4.2.2)",
    )
