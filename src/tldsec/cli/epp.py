"""``tldsec epp serve``: the EPP server for registrars (RFC 5730-5734, 5910)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tldsec.cli.common import add_home_argument, settings_from_args
from tldsec.clock import Clock, SystemClock
from tldsec.epp.dispatch import Dispatcher
from tldsec.epp.login import Gate, LoginGate
from tldsec.epp.server import EppServer, ServerLimits
from tldsec.epp.shared_gate import RemoteGate
from tldsec.epp.tls import server_context
from tldsec.epp.workers import EppWorkers
from tldsec.epp.xml.codec import Codec
from tldsec.errors import ConfigError
from tldsec.registry.audit import AuditRecorder, log_audit
from tldsec.registry.context import RegistryRules
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.passwords import production_hasher
from tldsec.settings import Settings

if TYPE_CHECKING:
    from tldsec.audit.log import AuditLog

_log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    group = sub.add_parser("epp", help="the EPP server for registrars")
    actions = group.add_subparsers(dest="epp_command", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="serve EPP over TLS until interrupted")
    add_home_argument(serve)
    serve.add_argument(
        "--listen", metavar="HOST:PORT", help="address to listen on (default: [epp] listen)"
    )
    serve.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="server processes sharing the port (default: one per core, here %(default)s)",
    )
    serve.add_argument(
        "--audit",
        action="store_true",
        help="record DS changes and logins in the audit log (tldsec serve always does)",
    )
    serve.set_defaults(handler=_serve)
    # One worker of 'serve --processes N' (started by it, not by people).
    worker = actions.add_parser("worker")
    add_home_argument(worker)
    worker.add_argument("--listen-fd", type=int, required=True)
    worker.add_argument("--gate-fd", type=int, required=True)
    worker.add_argument("--audit", action="store_true")
    worker.set_defaults(handler=_worker)


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT``."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--listen {value!r}: use HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass
class EppParts:
    """One process's EPP server and what must be closed after it."""

    server: EppServer
    db: RegistryDatabase
    audit_log: AuditLog | None

    def close(self) -> None:
        try:
            self.db.dispose()
        finally:
            if self.audit_log is not None:
                self.audit_log.close()


def build_server(settings: Settings, clock: Clock, gate: Gate, *, audit: bool) -> EppParts:
    """The EPP server of one process: TLS context, registry database, dispatcher, and
    with ``audit`` the audit log (DPS 4.4.1) for DS changes and logins."""
    epp = settings.epp
    if epp.tls_cert is None or epp.tls_key is None:
        raise ConfigError("[epp] tls_cert and tls_key are needed to serve EPP")
    context = server_context(
        epp.tls_cert,
        epp.tls_key,
        client_ca=epp.client_ca,
        require_client_cert=epp.require_client_cert,
    )
    # No ping before every checkout (a round trip per command): after a database
    # restart one command fails with 2400 and the pool is renewed (docs/epp.md).
    engine_args = {} if settings.registry_db_url.startswith("sqlite") else {"pool_pre_ping": False}
    db = RegistryDatabase.from_url(settings.registry_db_url, **engine_args)
    if not db.is_current():
        db.dispose()
        raise ConfigError("the registry database is not up to date: run 'tldsec db upgrade'")
    audit_log = None
    recorder: AuditRecorder = log_audit
    if audit:
        from tldsec.audit.adapters import registry_recorder
        from tldsec.audit.config import open_audit_log

        try:
            audit_log = open_audit_log(settings, clock)
        except BaseException:
            db.dispose()
            raise
        recorder = registry_recorder(audit_log)
    dispatcher = Dispatcher(
        db=db,
        rules=RegistryRules(origin=settings.origin, ds=settings.policy.ds),
        clock=clock,
        hasher=production_hasher(),
        gate=gate,
        server_id=epp.server_id,
        codec=Codec(max_bytes=epp.max_frame_bytes),
        audit=recorder,
    )
    limits = ServerLimits(
        max_frame_bytes=epp.max_frame_bytes, idle_timeout=float(epp.idle_timeout_seconds)
    )
    return EppParts(EppServer(dispatcher, context, limits), db, audit_log)


def worker_args(home: Path, *, audit: bool) -> list[str]:
    """The ``tldsec`` arguments of one worker process for ``EppWorkers``."""
    return ["epp", "worker", "--home", str(home), *(["--audit"] if audit else [])]


def _serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    epp = settings.epp
    host, port = parse_listen(args.listen or epp.listen)
    clock = SystemClock()
    gate = LoginGate(clock, max_sessions=epp.sessions_per_registrar)
    if args.processes < 1:
        raise ConfigError("--processes must be at least 1")
    if args.processes == 1:
        parts = build_server(settings, clock, gate, audit=args.audit)
        try:
            asyncio.run(_run_one(parts.server, host, port))
        finally:
            parts.close()
        return 0
    if epp.tls_cert is None or epp.tls_key is None:
        raise ConfigError("[epp] tls_cert and tls_key are needed to serve EPP")
    if args.audit:
        from tldsec.audit.config import open_audit_log

        open_audit_log(settings, clock).close()  # a new log is made once, not by N workers
    workers = EppWorkers(worker_args(settings.home, audit=args.audit), args.processes, gate)
    asyncio.run(_run_many(workers, host, port))
    return 0


async def _run_one(server: EppServer, host: str, port: int) -> None:
    bound = await server.start(host, port)
    print(f"EPP server listening on {bound[0]}:{bound[1]}", flush=True)
    await _until_stopped()
    _log.info("EPP server stopping")
    await server.close()


async def _run_many(workers: EppWorkers, host: str, port: int) -> None:
    bound = await workers.start(host, port)
    print(f"EPP server listening on {bound[0]}:{bound[1]}", flush=True)
    try:
        await _until_stopped()
        _log.info("EPP server stopping")
    finally:
        await workers.close()


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _worker(args: argparse.Namespace) -> int:
    """One worker: accept on the inherited socket, ask the supervisor's gate."""
    settings = settings_from_args(args)
    listen = socket.socket(fileno=args.listen_fd)
    channel = socket.socket(fileno=args.gate_fd)
    gate = RemoteGate(channel, max_sessions=settings.epp.sessions_per_registrar)
    try:
        parts = build_server(settings, SystemClock(), gate, audit=args.audit)
        try:
            asyncio.run(_run_worker(parts.server, listen, gate))
        finally:
            parts.close()
    finally:
        gate.close()
        listen.close()
    return 0


async def _run_worker(server: EppServer, listen: socket.socket, gate: RemoteGate) -> None:
    await server.start_on(listen)
    gate.ready()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()

    async def orphaned() -> None:  # the supervisor died without stopping us
        while os.getppid() == parent:
            await asyncio.sleep(1)
        _log.error("EPP supervisor (pid %d) is gone: stopping", parent)
        stop.set()

    watch = loop.create_task(orphaned())
    await stop.wait()
    watch.cancel()
    await server.close()
