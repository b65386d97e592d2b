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
    """One EPP process per core but one (decisions.md 14): the registry's PostgreSQL and
    the cycle's signer share the host, and on two cores a second EPP process cost 40 %
    more CPU per command than it gained (docs/benchmarks.md)."""
    return max(1, (os.cpu_count() or 1) - 1)
