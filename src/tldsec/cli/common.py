"""Arguments and helpers shared by command groups."""

from __future__ import annotations

import argparse
import os

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
