"""``tldsec console serve``: the registrar console alone (docs/console.md)."""

from __future__ import annotations

import argparse
from typing import Any

from tldsec.cli.common import add_home_argument, settings_from_args
from tldsec.clock import SystemClock


def register(sub: Any) -> None:
    group = sub.add_parser("console", help="the registrar console (HTTPS)")
    actions = group.add_subparsers(dest="console_command", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="serve the registrar console until interrupted")
    add_home_argument(serve)
    serve.add_argument(
        "--listen", metavar="HOST:PORT", help="address to listen on (default: [console] listen)"
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from tldsec.console.server import build_console, serve
    from tldsec.service.epp import parse_listen

    settings = settings_from_args(args, databases=("registry", "audit"))
    host, port = parse_listen(args.listen or settings.config.console.listen)
    parts = build_console(settings, SystemClock())
    try:
        serve(parts, host, port)
    finally:
        parts.close()
    return 0
