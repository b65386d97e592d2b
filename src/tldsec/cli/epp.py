"""``tldsec epp serve``: the EPP server for registrars (RFC 5730-5734, 5910)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
from typing import Any

from tldsec.cli.common import add_home_argument, default_processes, settings_from_args
from tldsec.clock import Clock, SystemClock
from tldsec.epp.login import LoginGate
from tldsec.epp.server import EppServer
from tldsec.epp.shared_gate import RemoteGate
from tldsec.epp.workers import EppWorkers
from tldsec.errors import ConfigError
from tldsec.service.epp import build_server, login_gate, parse_listen, settle_heap, worker_args
from tldsec.settings import Settings

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
