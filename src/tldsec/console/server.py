"""Building the console from a home's settings and serving it over HTTPS (uvicorn).

``build_console`` opens the registry database, the audit log, the login gate on the
shared ``login_failure`` table and the TOTP key; ``serve`` runs uvicorn with the EPP
certificate unless ``[console] tls_cert``/``tls_key`` name another. ``tldsec console
serve`` runs it alone; ``tldsec serve --console-listen`` runs it beside the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from tldsec.clock import Clock
from tldsec.console.actions import DsChanger
from tldsec.console.app import Console, build_app, offered_digest_types
from tldsec.console.auth import LoginService
from tldsec.console.live import LiveSource
from tldsec.console.sessions import SessionStore
from tldsec.console.totp import TotpKey
from tldsec.epp.login import LoginGate
from tldsec.errors import ConfigError
from tldsec.registry.advisory import Advisor
from tldsec.registry.audit import AuditRecorder
from tldsec.registry.context import rules_by_zone, rules_from_settings
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.login_failures import DbFailures
from tldsec.registry.passwords import production_hasher
from tldsec.registry.routing import load_routes
from tldsec.settings import Settings
from tldsec.zonehome import ZoneHome

if TYPE_CHECKING:
    from tldsec.audit.log import AuditLog

_log = logging.getLogger(__name__)


@dataclass
class ConsoleParts:
    """The console of one process and what must be closed after it."""

    console: Console
    gate: LoginGate
    audit_log: AuditLog | None
    tls_cert: Path
    tls_key: Path

    def close(self) -> None:
        try:
            self.console.db.dispose()
            self.gate.close()
        finally:
            if self.audit_log is not None:
                self.audit_log.close()


def tls_files(settings: Settings) -> tuple[Path, Path]:
    """The console's certificate and key: ``[console]``'s, else the EPP server's."""
    table = settings.config.console
    cert = settings.home / table.tls_cert if table.tls_cert else settings.epp.tls_cert
    key = settings.home / table.tls_key if table.tls_key else settings.epp.tls_key
    if cert is None or key is None:
        raise ConfigError("[console] tls_cert and tls_key (or [epp]'s) are needed to serve HTTPS")
    for path in (cert, key):
        if not path.is_file():
            raise ConfigError(f"{path}: the console's TLS file does not exist")
    return cert, key


def build_console(
    settings: Settings, clock: Clock, *, audit_log: AuditLog | None = None
) -> ConsoleParts:
    """The console for ``settings``; without ``audit_log`` it opens the home's own."""
    from tldsec.audit.adapters import registry_recorder
    from tldsec.audit.config import open_audit_log
    from tldsec.distribute.config import load_distribute_settings

    table = settings.config.console
    cert, key = tls_files(settings)
    totp_key = TotpKey.load(settings.home / table.totp_key)
    db = RegistryDatabase.from_url(settings.registry_db_url, **engine_args(settings))
    if not db.is_current():
        db.dispose()
        raise ConfigError("the registry database is not up to date: run 'tldsec db upgrade'")
    owned = audit_log is None
    log = audit_log if audit_log is not None else open_audit_log(settings, clock)
    recorder: AuditRecorder = registry_recorder(log)
    gate = LoginGate(
        clock,
        max_sessions=settings.epp.sessions_per_registrar,
        failures=DbFailures(RegistryDatabase.from_url(settings.registry_db_url)),
    )
    hasher = production_hasher()
    dist = load_distribute_settings(settings)
    # The registry's zones, read once, as the EPP server reads them (decision 61): a
    # home of several zones is served by zone (decision 69); a registry without a zone
    # row as before, under the home's one zone.
    by_zone = rules_by_zone(settings)
    with db.read() as session:
        routes = load_routes(session, by_zone)
    live_by_zone: dict[str, LiveSource] = {}
    if routes is None:
        rules = rules_from_settings(settings)
        origin = settings.origin
        digest_types = settings.policy.ds.digest_types
        live = LiveSource(
            ZoneHome(settings.zones_dir, origin).cycle_state, dist.store_for(origin), origin
        )
    else:
        rules = next(iter(by_zone.values()))  # each change runs under its zone's
        origin = rules.origin
        digest_types = frozenset().union(*(r.ds.digest_types for r in by_zone.values()))
        live = None
        for zone in routes.routes:
            try:
                store: Path | None = dist.store_for(zone)
            except ConfigError:  # one store for several zones: serve refuses it anyway
                store = None
            live_by_zone[zone] = LiveSource(
                ZoneHome(settings.zones_dir, zone).cycle_state, store, zone
            )
    console = Console(
        db=db,
        login=LoginService(db, gate, hasher, totp_key, clock, recorder),
        changer=DsChanger(db, rules, hasher, clock, recorder, routes),
        sessions=SessionStore(clock, timedelta(minutes=table.idle_timeout_minutes)),
        advisor=Advisor(timeout=table.advisory_timeout_seconds),
        clock=clock,
        audit=recorder,
        origin=origin,
        digest_types=offered_digest_types(digest_types),
        live=live,
        page_size=table.page_size,
        routes=routes,
        live_by_zone=live_by_zone,
    )
    return ConsoleParts(console, gate, log if owned else None, cert, key)


def engine_args(settings: Settings) -> dict[str, object]:
    """The registry engine's pool for the console on PostgreSQL: no ping before every
    checkout (a round trip per page; after a database restart one request fails and the
    pool is renewed, as for EPP: docs/epp.md), and room for a page per thread of the
    pool at once, so busy moments do not open and close a connection per request."""
    if settings.registry_db_url.startswith("sqlite"):
        return {}
    return {"pool_pre_ping": False, "pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}


POOL_SIZE = 20  # connections kept open (opened as needed)
POOL_OVERFLOW = 20  # more at the busiest moments, closed when returned


class ConsoleServer(uvicorn.Server):
    """uvicorn's server, stopping on SIGINT/SIGTERM without re-raising the signal after
    its graceful shutdown (``tldsec console serve`` then exits 0, as ``tldsec serve``
    does). With ``own_signals=False`` (inside ``tldsec serve``, whose loop handles the
    signals), or in a thread other than the main one, it installs nothing: the owner
    sets ``should_exit``."""

    def __init__(self, config: uvicorn.Config, *, own_signals: bool = True) -> None:
        super().__init__(config)
        self.own_signals = own_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self.own_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def uvicorn_server(
    parts: ConsoleParts, host: str, port: int, *, own_signals: bool = True
) -> ConsoleServer:
    """A uvicorn server for the console on ``host:port`` with TLS (1.2 or later)."""
    config = uvicorn.Config(
        build_app(parts.console),
        host=host,
        port=port,
        ssl_certfile=str(parts.tls_cert),
        ssl_keyfile=str(parts.tls_key),
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,  # the source address is the peer's: audited, rate-limited
        timeout_keep_alive=5,
        timeout_graceful_shutdown=5,  # then open connections are closed
        lifespan="off",
    )
    return ConsoleServer(config, own_signals=own_signals)


def serve(parts: ConsoleParts, host: str, port: int) -> None:
    """Serve until interrupted (SIGINT/SIGTERM)."""
    server = uvicorn_server(parts, host, port)
    _log.info("registrar console on https://%s:%d/", host, port)
    asyncio.run(server.serve())


async def start_console(
    settings: Settings, clock: Clock, listen: str, *, audit_log: AuditLog | None = None
) -> tuple[tuple[str, int], Callable[[], Awaitable[None]]]:
    """The console served in the running event loop (``tldsec serve --console-listen``):
    its address, and the coroutine function that stops it and closes what it opened. A
    port that cannot be bound is a ``ConfigError`` naming it."""
    host, port = _listen(listen)
    parts = build_console(settings, clock, audit_log=audit_log)
    try:
        sock = socket.create_server(
            (host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET
        )
    except OSError as exc:
        parts.close()
        raise ConfigError(
            f"cannot listen for the registrar console on {host} port {port} "
            f"(--console-listen): {exc.strerror or exc}"
        ) from exc
    sock.setblocking(False)
    server = uvicorn_server(parts, host, port, own_signals=False)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            parts.close()
            task.result()  # raises why it stopped
            raise ConfigError(f"the registrar console on {host} port {port} stopped at start")
        await asyncio.sleep(0.01)
    bound = sock.getsockname()
    _log.info("registrar console on https://%s:%d/", bound[0], bound[1])

    async def close() -> None:
        server.should_exit = True
        try:
            await task
        finally:
            parts.close()

    return (bound[0], bound[1]), close


def _listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` (as ``epp serve --listen``)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"console listen address {value!r}: use HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)
