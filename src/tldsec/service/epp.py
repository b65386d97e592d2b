"""Building the EPP server (docs/epp.md), for ``tldsec serve`` and ``tldsec epp serve``
alike: in this process, or in worker processes sharing the port, each auditing to the
log; the embedded default makes a self-signed certificate in the home."""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tldsec.clock import Clock
from tldsec.epp.dispatch import Dispatcher
from tldsec.epp.login import Gate, LoginGate
from tldsec.epp.server import EppServer, ServerLimits
from tldsec.epp.tls import server_context
from tldsec.epp.xml.codec import Codec
from tldsec.errors import ConfigError
from tldsec.registry.audit import AuditRecorder, log_audit
from tldsec.registry.context import rules_by_zone, rules_from_settings
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.passwords import production_hasher
from tldsec.registry.routing import load_routes
from tldsec.settings import EppSettings, Settings

if TYPE_CHECKING:
    from tldsec.audit.log import AuditLog

log = logging.getLogger("tldsec.serve")

GC_YOUNG_THRESHOLD = 20_000  # allocations between collections of the youngest objects


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
    limits = server_limits(epp)
    url = settings.registry_db_url
    db = RegistryDatabase.from_url(url, **epp_engine_args(url, limits))
    if not db.is_current():
        db.dispose()
        raise ConfigError("the registry database is not up to date: run 'tldsec db upgrade'")
    by_zone = rules_by_zone(settings)
    try:
        with db.read() as session:  # once per process: no command reads the zones (61)
            routes = load_routes(session, by_zone)
    except BaseException:
        db.dispose()
        raise
    durability = db.durability_warning()
    if durability is not None:
        log.warning("EPP: %s", durability)
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
        # Commands that name no zone (contacts, poll) and a registry without zone rows:
        # the home's first zone's rules.
        rules=next(iter(by_zone.values())) if routes is not None else rules_from_settings(settings),
        clock=clock,
        hasher=production_hasher(),
        gate=gate,
        server_id=epp.server_id,
        codec=Codec(max_bytes=epp.max_frame_bytes),
        audit=recorder,
        routes=routes,
    )
    return EppParts(EppServer(dispatcher, context, limits), db, audit_log)


def epp_engine_args(url: str, limits: ServerLimits) -> dict[str, object]:
    """The registry engine of one EPP process (PostgreSQL; SQLite keeps the defaults).

    No ping before every checkout (a round trip per command): after a database restart
    one command fails with 2400 and the pool is renewed (docs/epp.md). The pool keeps a
    connection per command thread: with SQLAlchemy's default of 5 the sixth to eighth
    busy threads each opened a connection and closed it at checkin, a new PostgreSQL
    backend (a fork and an authentication) for about one transform in 40 at 20 sessions
    (decision 56). The overflow is headroom for whatever else borrows the engine (the
    startup checks); a command thread holds one connection at a time."""
    if url.startswith("sqlite"):
        return {}
    return {"pool_pre_ping": False, "pool_size": limits.workers, "max_overflow": limits.workers}


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


async def start_epp(
    settings: Settings, clock: Clock, listen: str | None, processes: int = 1
) -> tuple[tuple[str, int], Callable[[], Awaitable[None]]]:
    """Start the EPP server (``processes`` > 1: worker processes sharing the port); its
    address and the call that closes it."""
    from tldsec.epp.tlscert import make_self_signed

    epp = settings.epp
    if epp.tls_cert is None or epp.tls_key is None:
        raise ConfigError("[epp] tls_cert and tls_key are needed to serve EPP")
    if not epp.tls_cert.exists() and not epp.tls_key.exists():
        # The embedded default: a self-signed certificate in the home.
        fp = make_self_signed(epp.tls_cert, epp.tls_key, "localhost", clock=clock)
        log.info("EPP: made a self-signed certificate %s (SHA-256 %s)", epp.tls_cert, fp)
    if processes > 1:
        return await _start_workers(settings, clock, listen, processes)
    gate = login_gate(settings, clock)
    try:
        parts = build_server(settings, clock, gate, audit=True)
    except BaseException:
        gate.close()
        raise
    try:
        address = await parts.server.start(*parse_listen(listen or epp.listen))
    except BaseException:
        parts.close()
        gate.close()
        raise

    async def close() -> None:
        await parts.server.close()
        parts.close()
        gate.close()

    return address, close


async def _start_workers(
    settings: Settings, clock: Clock, listen: str | None, processes: int
) -> tuple[tuple[str, int], Callable[[], Awaitable[None]]]:
    """Several EPP processes on one port (docs/epp.md); each audits to the log."""
    from tldsec.audit.config import open_audit_log
    from tldsec.epp.workers import EppWorkers

    epp = settings.epp
    open_audit_log(settings, clock).close()  # made once, not by N workers
    shared = login_gate(settings, clock)
    workers = EppWorkers(
        worker_args(settings.home, audit=True),
        processes,
        shared,
        max_unauthenticated_per_address=epp.unauthenticated_per_address,
        max_unauthenticated=epp.unauthenticated_total,
    )
    try:
        address = await workers.start(*parse_listen(listen or epp.listen))
    except BaseException:
        shared.close()
        raise

    async def close() -> None:
        await workers.close()
        shared.close()

    return address, close
