"""``tldsec epp serve``: the EPP server for registrars (RFC 5730-5734, 5910)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

from tldsec.cli.common import add_home_argument, settings_from_args
from tldsec.clock import SystemClock
from tldsec.epp.dispatch import Dispatcher
from tldsec.epp.login import LoginGate
from tldsec.epp.server import EppServer, ServerLimits
from tldsec.epp.tls import server_context
from tldsec.epp.xml.codec import Codec
from tldsec.errors import ConfigError
from tldsec.registry.context import RegistryRules
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.passwords import production_hasher

_log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    group = sub.add_parser("epp", help="the EPP server for registrars")
    actions = group.add_subparsers(dest="epp_command", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="serve EPP over TLS until interrupted")
    add_home_argument(serve)
    serve.add_argument(
        "--listen", metavar="HOST:PORT", help="address to listen on (default: [epp] listen)"
    )
    serve.set_defaults(handler=_serve)


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT``."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--listen {value!r}: use HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def _serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    epp = settings.epp
    if epp.tls_cert is None or epp.tls_key is None:
        raise ConfigError("[epp] tls_cert and tls_key are needed to serve EPP")
    host, port = parse_listen(args.listen or epp.listen)
    context = server_context(
        epp.tls_cert,
        epp.tls_key,
        client_ca=epp.client_ca,
        require_client_cert=epp.require_client_cert,
    )
    db = RegistryDatabase.from_url(settings.registry_db_url)
    if not db.is_current():
        db.dispose()
        raise ConfigError("the registry database is not up to date: run 'tldsec db upgrade'")
    clock = SystemClock()
    dispatcher = Dispatcher(
        db=db,
        rules=RegistryRules(origin=settings.origin, ds=settings.policy.ds),
        clock=clock,
        hasher=production_hasher(),
        gate=LoginGate(clock, max_sessions=epp.sessions_per_registrar),
        server_id=epp.server_id,
        codec=Codec(max_bytes=epp.max_frame_bytes),
    )
    limits = ServerLimits(
        max_frame_bytes=epp.max_frame_bytes, idle_timeout=float(epp.idle_timeout_seconds)
    )
    try:
        asyncio.run(_run(EppServer(dispatcher, context, limits), host, port))
    finally:
        db.dispose()
    return 0


async def _run(server: EppServer, host: str, port: int) -> None:
    bound = await server.start(host, port)
    print(f"EPP server listening on {bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    _log.info("EPP server stopping")
    await server.close()
