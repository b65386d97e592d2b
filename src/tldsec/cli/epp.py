"""``tldsec epp serve``: the EPP server for registrars (RFC 5730-5734, 5910)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tldsec.cli.common import add_home_argument, default_processes, settings_from_args
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
from tldsec.registry.context import rules_from_settings
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.passwords import production_hasher
from tldsec.settings import EppSettings, Settings

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
        default=default_processes(),
        metavar="N",
        help="server processes sharing the port (default: one per core; here %(default)s)",
    )
    serve.add_argument(
        "--audit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="record DS changes and logins in the audit log, as DPS 4.4.1 requires "
        "(default; --no-audit only for tests and benchmarks)",
    )
    serve.set_defaults(handler=_serve)
    # One worker of 'serve --processes N' (started by it, not by people).
    worker = actions.add_parser("worker")
    add_home_argument(worker)
    worker.add_argument("--handoff-fd", type=int, required=True)
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


def login_gate(settings: Settings, clock: Clock) -> LoginGate:
    """The login gate of a server (or of a supervisor of several): session counts in this
    process, failed logins counted in the registry database, shared by every EPP process
    and host (``registry/login_failures.py``). ``gate.close()`` releases the database."""
    from tldsec.registry.login_failures import DbFailures

    db = RegistryDatabase.from_url(settings.registry_db_url)
    return LoginGate(
        clock, max_sessions=settings.epp.sessions_per_registrar, failures=DbFailures(db)
    )


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
    durability = db.durability_warning()
    if durability is not None:
        _log.warning("%s", durability)
    audit_log = None
    recorder: AuditRecorder = log_audit
    if audit:
        from tldsec.audit.adapters import registry_recorder
        from tldsec.audit.config import open_audit_log

        try:
            audit_log = open_audit_log(settings, clock, pre_ping=False)  # as the registry's
        except BaseException:
            db.dispose()
            raise
        recorder = registry_recorder(audit_log)
    dispatcher = Dispatcher(
        db=db,
        rules=rules_from_settings(settings),
        clock=clock,
        hasher=production_hasher(),
        gate=gate,
        server_id=epp.server_id,
        codec=Codec(max_bytes=epp.max_frame_bytes),
        audit=recorder,
    )
    return EppParts(EppServer(dispatcher, context, server_limits(epp)), db, audit_log)


def server_limits(epp: EppSettings) -> ServerLimits:
    """What one client may cost the server, from ``[epp]`` (docs/config.md)."""
    return ServerLimits(
        max_frame_bytes=epp.max_frame_bytes,
        idle_timeout=float(epp.idle_timeout_seconds),
        max_unauthenticated_per_address=epp.unauthenticated_per_address,
        max_unauthenticated=epp.unauthenticated_total,
        login_timeout=float(epp.login_timeout_seconds),
        min_frame_rate=float(epp.frame_min_bytes_per_second),
    )


def worker_args(home: Path, *, audit: bool) -> list[str]:
    """The ``tldsec`` arguments of one worker process for ``EppWorkers``."""
    return ["epp", "worker", "--home", str(home), *(["--audit"] if audit else [])]


def settle_heap() -> None:
    """Once the server is built: what exists now (modules, schemas, the SQL statements
    built once) lives as long as the process, so the cyclic collector stops walking it
    (``gc.freeze``), and it runs less often on the short-lived objects of each command.
    A full collection over the startup heap was a pause of tens of milliseconds in the
    middle of some command: the latency tail (bench/epp_bench.py)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


GC_YOUNG_THRESHOLD = 20_000  # allocations between collections of the youngest objects


def _serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    epp = settings.epp
    host, port = parse_listen(args.listen or epp.listen)
    clock = SystemClock()
    if args.processes < 1:
        raise ConfigError("--processes must be at least 1")
    gate = login_gate(settings, clock)
    try:
        return _serve_with(args, settings, clock, gate, host, port)
    finally:
        gate.close()


def _serve_with(
    args: argparse.Namespace,
    settings: Settings,
    clock: Clock,
    gate: LoginGate,
    host: str,
    port: int,
) -> int:
    epp = settings.epp
    if args.processes == 1:
        parts = build_server(settings, clock, gate, audit=args.audit)
        settle_heap()
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
    workers = EppWorkers(
        worker_args(settings.home, audit=args.audit),
        args.processes,
        gate,
        max_unauthenticated_per_address=epp.unauthenticated_per_address,
        max_unauthenticated=epp.unauthenticated_total,
    )
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
    """One worker: sessions on the connections the supervisor hands over, the
    supervisor's gate for logins."""
    settings = settings_from_args(args)
    handoff = socket.socket(fileno=args.handoff_fd)
    channel = socket.socket(fileno=args.gate_fd)
    gate = RemoteGate(channel, max_sessions=settings.epp.sessions_per_registrar)
    try:
        parts = build_server(settings, SystemClock(), gate, audit=args.audit)
        settle_heap()
        try:
            asyncio.run(_run_worker(parts.server, handoff, gate))
        finally:
            parts.close()
    finally:
        gate.close()
        handoff.close()
    return 0


async def _run_worker(server: EppServer, handoff: socket.socket, gate: RemoteGate) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server.on_session_end = gate.session_ended
    server.on_unauthenticated_end = gate.unauthenticated_end
    handoff.setblocking(False)
    handshakes: set[asyncio.Task[None]] = set()

    def receive() -> None:
        try:
            message, fds, _flags, _addr = socket.recv_fds(handoff, 1, 1)
        except BlockingIOError:
            return
        except OSError as exc:
            _log.error("EPP worker: the supervisor's channel failed: %s", exc)
            stop.set()
            return
        if not message:  # the supervisor is gone
            _log.error("EPP supervisor is gone: stopping")
            stop.set()
            return
        for fd in fds:
            task = loop.create_task(server.adopt(socket.socket(fileno=fd)))
            handshakes.add(task)
            task.add_done_callback(handshakes.discard)

    loop.add_reader(handoff.fileno(), receive)
    gate.ready()
    await stop.wait()
    loop.remove_reader(handoff.fileno())
    for task in list(handshakes):
        task.cancel()
    await asyncio.gather(*handshakes, return_exceptions=True)
    await server.close()
