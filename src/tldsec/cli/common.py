"""Arguments and helpers shared by command groups."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from tldsec.settings import Settings, home_from, load_settings


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
    record: Callable[..., Any],
) -> None:
    """Refuse ``operation`` unless its ceremony authorises it, where the home requires
    one (``ceremony/gate.py``; DPS 5.2.2); the operator is the actor of what is recorded."""
    from tldsec.ceremony.gate import pass_gate  # only for the commands that need it
    from tldsec.clock import SystemClock

    pass_gate(
        settings,
        operation,
        params,
        ceremony_id,
        now=SystemClock().now(),
        record=record,
        actor=operator_actor(),
    )
