"""Arguments and helpers shared by command groups."""

from __future__ import annotations

import argparse

from tldsec.settings import Settings, home_from, load_settings


def add_home_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="tldsec home directory (default: $TLDSEC_HOME or ./tldsec-home)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    return load_settings(home_from(args.home))
