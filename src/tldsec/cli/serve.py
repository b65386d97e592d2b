"""``tldsec serve``: the running registry from one config file.

This module only reads the options; the service itself (the servers, the scheduler,
the monitors and the HTTP endpoints) is ``tldsec.service`` (``service/supervisor.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import logging
from typing import Any

from tldsec.cli.common import add_home_argument, default_processes, settings_from_args
from tldsec.clock import SystemClock
from tldsec.cycle import load_cycle_settings
from tldsec.distribute.config import load_distribute_settings, parse_hostport
from tldsec.errors import ConfigError
from tldsec.service.cycles import cycle_argv
from tldsec.service.logs import JsonFormatter
from tldsec.service.roles import SIGNER, parse_roles
from tldsec.service.supervisor import DEFAULT_HEALTH, Service


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the registry: EPP server, cycle scheduler, hidden primary, health endpoint "
        "(all in one process, or one role per process with --role)",
        description="Start the EPP server, the cycle scheduler and the hidden primary "
        "(SOA, AXFR, IXFR, NOTIFY) from the home's tldsec.toml, with JSON log lines and "
        "HTTP endpoints (GET /health: 200 when signing can happen, 503 with the faults "
        "otherwise; GET /metrics in the Prometheus format; POST /cycle with "
        "'Authorization: Bearer TOKEN', the token in HOME/control-token). Ctrl-C stops.",
    )
    add_home_argument(p)
    p.add_argument("--epp-listen", metavar="HOST:PORT", help="EPP (default: [epp] listen)")
    p.add_argument("--dns-listen", metavar="HOST:PORT", help="primary (default: [distribute])")
    p.add_argument("--health-listen", metavar="HOST:PORT", help=f"default: {DEFAULT_HEALTH}")
    p.add_argument("--no-epp", action="store_true", help="do not start the EPP server")
    p.add_argument(
        "--console-listen",
        metavar="HOST:PORT",
        help="also serve the registrar console (HTTPS) here (docs/console.md)",
    )
    p.add_argument(
        "--epp-processes",
        type=int,
        default=default_processes(),
        metavar="N",
        help="EPP server processes sharing the port (default: one per core)",
    )
    p.add_argument(
        "--role",
        action="append",
        metavar="ROLE",
        help="all (default), registry (EPP, console), signer (cycles, lease, pushes; no "
        "listening socket) or primary (AXFR/IXFR/NOTIFY, accepts pushes); repeat or "
        "comma-separate to run several (decision 49)",
    )
    p.add_argument(
        "--no-cycle",
        action="store_true",
        help="run no cycles: the same as leaving out the signer role",
    )
    p.add_argument("--log-format", choices=("json", "text"), default="json")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    roles = parse_roles(args.role)
    if args.no_cycle:
        roles = roles - {SIGNER}
    if not roles:
        raise ConfigError("--no-cycle leaves no role to run: name one with --role")
    settings = settings_from_args(args)
    # A crash in a C library (PKCS#11, libpq, OpenSSL) kills the daemon without a Python
    # traceback; this writes every thread's stack to standard error (the journal) first.
    faulthandler.enable(all_threads=True)
    if args.log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    if logging.getLogger().level > logging.INFO:
        logging.getLogger("tldsec").setLevel(logging.INFO)
    dist = load_distribute_settings(settings)
    dns_listen = parse_hostport(args.dns_listen or dist.listen)
    health = parse_hostport(args.health_listen or settings.config.serve.health_listen)
    service = Service(
        settings,
        SystemClock(),
        dist,
        cycle_argv=_cycle_argv(args),
        cycle_timeout=load_cycle_settings(settings).timeout_seconds,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            service.serve(
                dns_listen,
                health,
                epp=not args.no_epp,
                epp_listen=args.epp_listen,
                console_listen=args.console_listen,
                epp_processes=args.epp_processes,
                cycles=SIGNER in roles,
                roles=roles,
            )
        )
    return 0


def _cycle_argv(args: argparse.Namespace) -> list[str]:
    return cycle_argv(args.home)
