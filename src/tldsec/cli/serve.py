"""``tldsec serve``: the running registry from one config file.

One process runs the EPP server (registrars), the hidden primary (SOA/AXFR/IXFR to the
secondaries, NOTIFY), the cycle scheduler and a health endpoint, with one JSON log line
per event. Cycles run as ``tldsec cycle`` child processes, so a cycle's memory is
released when it ends and a crash in one never takes the servers down; the primary
picks up each new serial from the distribution store (DPS 5.6: the signing side pushes,
the primary never reaches back).

The scheduler (DPS 3.5.2: DS changes reach the zone within the hour) looks every
``[cycle] check_seconds`` for work (``Cycle.pending``: a cheap check). A registry change
starts a cycle once the policy's debounce has passed since it was first seen
(change-driven mode, ``[cycle] change_driven``); key steps, signatures to refresh and
interrupted cycles start one at once; without change-driven mode, work found is done at
the policy's cycle interval. ``POST /cycle`` on the health endpoint, or SIGHUP, runs a
cycle at once. SIGINT (Ctrl-C) or SIGTERM stops everything cleanly.

The HSM (DPS 5.2.8, 5.2.9): where the Security Officer holds the PIN (``[keystore]
pin_source = "security-officer"``) serve starts locked: the primary serves the last good
zone, no cycle runs, and health says ``locked``. ``tldsec hsm activate`` brings the PIN
over the activation socket (``cli/activation.py``); serve logs in to every HSM, keeps
the PIN in memory only and hands it to each cycle process through a pipe.
``tldsec hsm deactivate`` stops a running cycle, logs out and closes every session.

Every ``[serve] audit_watch_seconds`` (10) it analyses the audit log's new entries
(DPS 4.4.2, ``audit/watch.py``): alerts and integrity alarms are logged at ERROR and
shown under ``audit`` on the health endpoint, which says ``degraded`` after an alarm.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

import dns.name

from tldsec import __version__
from tldsec.audit.log import AuditLog
from tldsec.audit.startup import (
    FileHashes,
    record_changes,
    record_start,
    record_stop,
)
from tldsec.audit.watch import AuditWatch
from tldsec.cli.activation import Peer, socket_path, start_server, tokens_of
from tldsec.cli.common import add_home_argument, default_processes, settings_from_args
from tldsec.cli.control import authorised, control_token, token_path
from tldsec.cli.pins import encode_pins
from tldsec.clock import Clock, SystemClock
from tldsec.cycle import Cycle, load_cycle_settings, open_cycle, open_store
from tldsec.cycle.schedule import Scheduler
from tldsec.db.base import make_engine
from tldsec.distribute.config import DistributeSettings, load_distribute_settings, parse_hostport
from tldsec.distribute.notify import Notifier, NotifyTarget
from tldsec.distribute.server import Access, PrimaryServer
from tldsec.errors import (
    ConfigError,
    KeyStoreError,
    KeyStoreLoginError,
    KeyStoreUnavailable,
    TldsecError,
)
from tldsec.hsm.activation import Activation
from tldsec.hsm.base import KeyStore
from tldsec.hsm.replicas import ReplicaReport
from tldsec.settings import Settings

log = logging.getLogger("tldsec.serve")
SERVE_ACTOR = "component:serve"
STOP_RECORD_WAIT = 10.0  # seconds an orderly stop waits for its start to be recorded

DEFAULT_HEALTH = "127.0.0.1:8053"
REPLICA_CHECK_SECONDS = 86400.0  # the daily replica proof (issue 14 item 5)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the registry: EPP server, cycle scheduler, hidden primary, health endpoint",
        description="Start the EPP server, the cycle scheduler and the hidden primary "
        "(SOA, AXFR, IXFR, NOTIFY) from the home's tldsec.toml, with JSON log lines and a "
        "health endpoint (GET /health, GET /status; POST /cycle with 'Authorization: "
        "Bearer TOKEN', the token in HOME/control-token). Ctrl-C stops.",
    )
    add_home_argument(p)
    p.add_argument("--epp-listen", metavar="HOST:PORT", help="EPP (default: [epp] listen)")
    p.add_argument("--dns-listen", metavar="HOST:PORT", help="primary (default: [distribute])")
    p.add_argument("--health-listen", metavar="HOST:PORT", help=f"default: {DEFAULT_HEALTH}")
    p.add_argument("--no-epp", action="store_true", help="do not start the EPP server")
    p.add_argument(
        "--epp-processes",
        type=int,
        default=default_processes(),
        metavar="N",
        help="EPP server processes sharing the port (default: one per core)",
    )
    p.add_argument(
        "--no-cycle",
        action="store_true",
        help="run no cycles: serve the store only (a primary host apart from the signer)",
    )
    p.add_argument("--log-format", choices=("json", "text"), default="json")
    p.set_defaults(handler=run)


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message, and any extras."""

    _skip = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in self._skip})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if args.log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    if logging.getLogger().level > logging.INFO:
        logging.getLogger("tldsec").setLevel(logging.INFO)
    dist = load_distribute_settings(settings)
    dns_listen = parse_hostport(args.dns_listen or dist.listen)
    health = parse_hostport(args.health_listen or settings.config.serve.health_listen)
    registry = Registry(
        settings,
        SystemClock(),
        dist,
        cycle_argv=_cycle_argv(args),
        cycle_timeout=load_cycle_settings(settings).timeout_seconds,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            registry.serve(
                dns_listen,
                health,
                epp=not args.no_epp,
                epp_listen=args.epp_listen,
                epp_processes=args.epp_processes,
                cycles=not args.no_cycle,
            )
        )
    return 0


def _cycle_argv(args: argparse.Namespace) -> list[str]:
    home = ["--home", str(args.home)] if args.home else []
    return [sys.executable, "-m", "tldsec.cli.main", "cycle", *home, "--json"]


class Registry:
    """The servers and the scheduler of ``tldsec serve``."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        dist: DistributeSettings,
        cycle_argv: list[str],
        cycle_timeout: float = 2400.0,
    ) -> None:
        self.settings = settings
        self.cycle_timeout = cycle_timeout
        self.clock = clock
        self.dist = dist
        self.cycle_argv = cycle_argv
        self.started = clock.now()
        self.stop = asyncio.Event()
        self.epp_address: tuple[str, int] | None = None
        self.dns_address: tuple[str, int] | None = None
        self.scheduler: Scheduler | None = None
        self.primary: PrimaryServer | None = None
        self._child: asyncio.subprocess.Process | None = None
        self.audit_watch: AuditWatch | None = None
        self.audit_watch_error: str | None = None
        self.audit_state: dict[str, Any] = {}  # audit/status.py, refreshed by the watch
        self._files: FileHashes | None = None  # config and policy hashes last recorded
        self.start_recorded = asyncio.Event()  # set once system.started is in the log
        # The HSM logins (None: keys on disk, nothing to activate).
        tokens = tokens_of(settings)
        self.activation: Activation | None = Activation(tokens) if tokens else None
        self.hsm_lock = asyncio.Lock()
        self.signing = True  # False: --no-cycle, nothing is signed here
        self.replica_check = asyncio.Event()  # set: prove the keys on every HSM now
        self.control_token = control_token(settings.home)  # POST /cycle needs it

    async def serve(
        self,
        dns_listen: tuple[str, int],
        health: tuple[str, int],
        *,
        epp: bool = True,
        epp_listen: str | None = None,
        epp_processes: int = 1,
        cycles: bool = True,
    ) -> None:
        loop = asyncio.get_running_loop()
        async with contextlib.AsyncExitStack() as stack:
            self.primary = self._primary()
            stack.push_async_callback(self.primary.close)
            self.dns_address = await self.primary.start(*dns_listen)
            await self.primary.refresh()
            self.primary.start_watching(self.dist.poll_seconds)
            if epp:
                close_epp = await self._start_epp(epp_listen, epp_processes)
                stack.push_async_callback(close_epp)
            health_server = await asyncio.start_server(self._health, *health)
            stack.push_async_callback(_close_server, health_server)
            watch_seconds = self.settings.config.serve.audit_watch_seconds
            stack.push_async_callback(_cancel, loop.create_task(self.watch_audit(watch_seconds)))
            health_address = health_server.sockets[0].getsockname()
            if not cycles:
                self.activation = None  # a primary apart from the signer holds no HSM
                self.signing = False
            if self.activation is not None:
                hsm_socket = await start_server(socket_path(self.settings.home), self.hsm_request)
                stack.push_async_callback(_close_server, hsm_socket)
                stack.push_async_callback(self._deactivate_on_exit)
                if not self.activation.officer_tokens():
                    await self._activate_stored()
                if self.settings.keystore.replicas:
                    task = loop.create_task(self.watch_replicas(REPLICA_CHECK_SECONDS))
                    stack.push_async_callback(_cancel, task)
            if cycles:
                checker = stack.enter_context(
                    open_cycle(self.settings, self.clock, keystore=False, audit=False)
                )
                self.scheduler = self._scheduler(checker)
                stack.push_async_callback(_cancel, loop.create_task(self.scheduler.loop()))
                stack.push_async_callback(self._stop_child)
                loop.add_signal_handler(signal.SIGHUP, self.scheduler.trigger.set)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop.set)
            self._announce(health_address)
            await self.stop.wait()
            log.info("tldsec serve: stopping")
            await self._record_stop()
        log.info("tldsec serve: stopped")

    def _scheduler(self, checker: Cycle) -> Scheduler:
        policy = self.settings.policy.cycle
        conf = load_cycle_settings(self.settings)
        return Scheduler(
            check=lambda: asyncio.to_thread(checker.pending),
            run_cycle=self._run_cycle,
            clock=self.clock,
            debounce=policy.debounce.total_seconds(),
            interval=policy.interval.total_seconds(),
            check_seconds=conf.check_seconds,
            change_driven=conf.change_driven,
            hold=self.signing_hold,
        )

    def signing_hold(self) -> str | None:
        """Why no cycle may run now (the HSM is locked), or None."""
        if self.activation is None or self.activation.active:
            return None
        return "the HSM is locked: the Security Officer activates it ('tldsec hsm activate')"

    def _announce(self, health: tuple[str, int]) -> None:
        lines = [f"tldsec serve for {self.settings.origin} (home {self.settings.home})"]
        if self.dns_address:
            host, port = self.dns_address
            lines.append(f"  hidden primary   {host} port {port} (UDP, TCP)")
        if self.epp_address:
            lines.append(f"  EPP              {self.epp_address[0]} port {self.epp_address[1]}")
        lines.append(f"  health           http://{health[0]}:{health[1]}/health")
        if self.primary is not None:
            lines.append(f"  store            {self.primary.store.directory}")
        if self.scheduler is None:
            lines.append("  cycles           not run by this process (--no-cycle)")
        if self.activation is not None:
            lines.append(
                f"  HSM              {self.activation.state} "
                f"(activation socket {socket_path(self.settings.home)})"
            )
        print("\n".join(lines), flush=True)
        log.info(
            "tldsec serve started",
            extra={
                "dns": list(self.dns_address or ()),
                "epp": list(self.epp_address or ()),
                "health": list(health),
            },
        )

    def _zone_refused(self, serial: int, error: str, serving: int | None) -> None:
        """The primary refused a zone file that is not the one the gate verified: an
        incident in the audit log (DPS 4.4.1, 4.5.1), beside ``primary_problem``."""
        self._audit(
            "zone.integrity_failed",
            stage="primary",
            serial=serial,
            error=error,
            serving=serving,
        )

    def _primary(self) -> PrimaryServer:
        dist = self.dist
        targets = tuple(
            NotifyTarget(
                s.name,
                host,
                port,
                dist.key(s.tsig_key).dns_key() if s.tsig_key else None,
            )
            for s in dist.secondaries
            for host, port in s.notify
        )
        notifier = Notifier(
            dns.name.from_text(self.settings.origin), targets, self.clock, dist.notify
        )
        return PrimaryServer(
            open_store(self.settings),
            Access(dist.secondaries, dist.tsig_keys),
            self.clock,
            notifier=notifier,
            on_refused=self._zone_refused,
        )

    async def _start_epp(
        self, listen: str | None, processes: int = 1
    ) -> Callable[[], Awaitable[None]]:
        from tldsec.audit.adapters import registry_recorder
        from tldsec.audit.config import open_audit_log
        from tldsec.cli.epp import login_gate, parse_listen, server_limits
        from tldsec.epp.dispatch import Dispatcher
        from tldsec.epp.server import EppServer
        from tldsec.epp.tls import server_context
        from tldsec.epp.tlscert import make_self_signed
        from tldsec.epp.xml.codec import Codec
        from tldsec.registry.context import rules_from_settings
        from tldsec.registry.database import RegistryDatabase
        from tldsec.registry.passwords import production_hasher

        epp = self.settings.epp
        if epp.tls_cert is None or epp.tls_key is None:
            raise ConfigError("[epp] tls_cert and tls_key are needed to serve EPP")
        if not epp.tls_cert.exists() and not epp.tls_key.exists():
            # The embedded default: a self-signed certificate in the home.
            fp = make_self_signed(epp.tls_cert, epp.tls_key, "localhost", clock=self.clock)
            log.info("EPP: made a self-signed certificate %s (SHA-256 %s)", epp.tls_cert, fp)
        if processes > 1:
            # Several EPP processes on one port (docs/epp.md); each audits to the log.
            from tldsec.cli.epp import worker_args
            from tldsec.epp.workers import EppWorkers

            open_audit_log(self.settings, self.clock).close()  # made once, not by N workers
            shared = login_gate(self.settings, self.clock)
            workers = EppWorkers(
                worker_args(self.settings.home, audit=True),
                processes,
                shared,
                max_unauthenticated_per_address=epp.unauthenticated_per_address,
                max_unauthenticated=epp.unauthenticated_total,
            )
            try:
                self.epp_address = await workers.start(*parse_listen(listen or epp.listen))
            except BaseException:
                shared.close()
                raise

            async def close_workers() -> None:
                await workers.close()
                shared.close()

            return close_workers
        context = server_context(
            epp.tls_cert,
            epp.tls_key,
            client_ca=epp.client_ca,
            require_client_cert=epp.require_client_cert,
        )
        db = RegistryDatabase.from_url(self.settings.registry_db_url)
        durability = db.durability_warning()
        if durability is not None:
            log.warning("EPP: %s", durability)
        audit = open_audit_log(self.settings, self.clock)
        gate = login_gate(self.settings, self.clock)
        dispatcher = Dispatcher(
            db=db,
            rules=rules_from_settings(self.settings),
            clock=self.clock,
            hasher=production_hasher(),
            gate=gate,
            server_id=epp.server_id,
            codec=Codec(max_bytes=epp.max_frame_bytes),
            audit=registry_recorder(audit),
        )
        server = EppServer(dispatcher, context, server_limits(epp))
        host, port = parse_listen(listen or epp.listen)
        self.epp_address = await server.start(host, port)

        async def close() -> None:
            await server.close()
            db.dispose()
            gate.close()
            audit.close()

        return close

    async def _run_cycle(self, force: bool) -> dict[str, Any] | None:
        argv = [*self.cycle_argv, *(["--force"] if force else [])]
        pins = self.activation.pins() if self.activation is not None else {}
        if pins:
            argv.append("--pin-stdin")  # the PINs follow on the pipe, never in argv/env
        self._child = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if pins else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(self.cycle_timeout):
                out, _ = await self._child.communicate(encode_pins(pins).encode() if pins else None)
        except TimeoutError:
            return await self._cycle_timed_out()
        code, self._child = self._child.returncode, None
        try:
            result: dict[str, Any] | None = json.loads(out.decode() or "null")
        except ValueError:
            result = None
        if result is None:
            # A child that dies without its result (a wrong HSM PIN, a crash) is a crash
            # of the cycle: recorded, and a failed cycle for the scheduler and /health.
            reason = f"the cycle process exited with status {code} and no result"
            log.error("cycle failed: %s", reason)
            await asyncio.to_thread(
                self._audit, "system.crash", component="cycle", exit_status=code, error=reason
            )
            result = {"outcome": "failed", "reason": reason}
        else:
            level = logging.INFO if code == 0 else logging.ERROR
            log.log(level, "cycle %s", result.get("outcome"), extra={"cycle": result})
        if self.primary is not None:
            await self.primary.refresh()
        return result

    async def _cycle_timed_out(self) -> dict[str, Any]:
        """Stop a cycle that ran too long (a hung HSM, a stuck database): it has not
        reached the store's commit point, so the zone last published stays published."""
        await self._stop_child()
        self._child = None
        reason = (
            f"the cycle process ran longer than [cycle] timeout_seconds = "
            f"{self.cycle_timeout:g} and was stopped; the zone last published stays published"
        )
        log.error("cycle failed: %s", reason)
        await asyncio.to_thread(self._audit, "cycle.failed", stage="timeout", error=reason)
        if self.primary is not None:
            await self.primary.refresh()
        return {"outcome": "failed", "reason": reason}

    async def _record_stop(self) -> None:
        """``system.stopped`` on an orderly stop (SIGTERM, SIGINT; DPS 4.4.1, 5.8), after
        this run's ``system.started``: a stop written before it would make the next start
        take this run for a crash. A run whose start never reached the log (an audit log
        it could not open) records no stop either."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_RECORD_WAIT):
                await self.start_recorded.wait()
        if not self.start_recorded.is_set():
            log.error("system.stopped not audited: this run's start is not in the audit log")
            return
        await asyncio.to_thread(self._audit_with, record_stop, "system.stopped")

    def _audit_with(self, write: Callable[..., Any], event: str) -> None:
        """``write(log, actor=SERVE_ACTOR)`` on a log opened for it; failures as ``_audit``."""
        from tldsec.audit.config import open_audit_log

        try:
            audit = open_audit_log(self.settings, self.clock)
        except TldsecError as exc:
            log.error("%s could not be audited: %s", event, exc)
            return
        try:
            write(audit, actor=SERVE_ACTOR)
        except TldsecError as exc:
            log.error("%s could not be audited: %s", event, exc)
        finally:
            audit.close()

    def _audit(self, event: str, **details: Any) -> None:
        """Record one entry as ``component:serve`` in a log opened for it; a failure is
        logged (serve goes on: the watch shows an audit log it cannot open)."""
        self._audit_as(event, SERVE_ACTOR, **details)

    def _audit_as(self, event: str, actor: str, **details: Any) -> None:
        """Record one entry as ``actor`` (the officer at the activation socket)."""
        from tldsec.audit.config import open_audit_log

        try:
            audit = open_audit_log(self.settings, self.clock)
        except TldsecError as exc:
            log.error("%s could not be audited: %s", event, exc)
            return
        try:
            audit.record(event, actor=actor, **details)
        except TldsecError as exc:
            log.error("%s could not be audited: %s", event, exc)
        finally:
            audit.close()

    async def _stop_child(self) -> None:
        child = self._child
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    await child.wait()
            if child.returncode is None:
                child.kill()
                await child.wait()

    # --- the audit log's continuous analysis (DPS 4.4.2) --------------------------------

    async def watch_audit(self, seconds: float) -> None:
        """Analyse the audit log's new entries every ``seconds`` (``audit/watch.py``): each
        alert and integrity alarm is logged at ERROR and shown on the health endpoint."""
        from tldsec.audit.config import open_audit_log

        while True:  # until the audit log can be opened: the servers run meanwhile
            try:
                audit = await asyncio.to_thread(open_audit_log, self.settings, self.clock)
                break
            except Exception as exc:  # a monitor retries; it never takes serve down
                self._audit_watch_failed(exc)
                await asyncio.sleep(seconds)
        try:
            # DPS 4.4.1, 5.8: this start, its version and files; a previous run's crash.
            await asyncio.to_thread(
                record_start, audit, self.settings, actor=SERVE_ACTOR, version=__version__
            )
            self.start_recorded.set()
            self._files = FileHashes.of(self.settings)
            self.audit_watch = watch = await asyncio.to_thread(AuditWatch.from_head, audit.engine)
            while True:
                await self.audit_housekeeping(audit)
                await asyncio.sleep(seconds)
                await self.check_audit(watch)
        finally:
            audit.close()

    async def audit_housekeeping(self, audit: AuditLog) -> None:
        """Refresh the audit status for /health (anchors, warnings, next retention run)
        and run archive and purge when the DPS 4.4.3 schedule says they are due."""
        from tldsec.audit.config import audit_config
        from tldsec.audit.maintenance import run_due
        from tldsec.audit.status import log_status

        config = audit_config(self.settings)
        try:
            files = FileHashes.of(self.settings)
            if self._files is not None and files != self._files:
                # against the log, not this memory: a command may have recorded it already
                await asyncio.to_thread(
                    partial(record_changes, actor=SERVE_ACTOR, version=__version__, now=files),
                    audit,
                    self.settings,
                )
            self._files = files
            state = await asyncio.to_thread(log_status, self.settings, config, audit)
            due = state["next_maintenance"]
            times = [datetime.fromisoformat(t) for t in due.values() if t is not None]
            if times and min(times) <= self.clock.now():
                maintenance = (
                    make_engine(config.maintenance_url) if config.maintenance_url else None
                )
                try:
                    done = await asyncio.to_thread(
                        run_due,
                        audit,
                        policy=self.settings.policy.audit,
                        archive_dir=config.archive_dir,
                        interval=config.archive_interval,
                        maintenance=maintenance,
                    )
                finally:
                    if maintenance is not None:
                        maintenance.dispose()
                log.info("audit retention run: %s", done)
                state = await asyncio.to_thread(log_status, self.settings, config, audit)
        except TldsecError as exc:
            log.error("audit housekeeping: %s", exc)
            state = {**self.audit_state, "error": str(exc)}
        self.audit_state = state

    async def check_audit(self, watch: AuditWatch) -> None:
        try:
            alerts = await asyncio.to_thread(watch.check)
        except TldsecError as exc:
            self._audit_watch_failed(exc)
            return
        self.audit_watch_error = None
        for alert in alerts:
            log.error(alert.line(), extra={"audit_alert": alert.as_json()})

    def _audit_watch_failed(self, exc: Exception) -> None:
        if self.audit_watch_error != str(exc):  # once per distinct failure, not per check
            log.error("audit watch: %s", exc)
        self.audit_watch_error = str(exc)

    # --- health -----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        primary, scheduler = self.primary, self.scheduler
        notify = []
        if primary is not None and primary.notifier is not None:
            notify = [s.as_json() for s in primary.notifier.states.values()]
        last = scheduler.last if scheduler else None
        ok = primary is not None and primary.serial is not None
        if last is not None and last.get("outcome") in ("refused", "failed", "held"):
            ok = False
        if primary is not None and primary.problem is not None:
            ok = False
        if scheduler is not None and scheduler.last_error:
            ok = False
        watch = self.audit_watch
        if watch is not None and watch.integrity_alarms:
            ok = False
        hsm = self.hsm_status()
        if hsm["state"] == "locked":
            ok = False  # the zone is served, but nothing can be signed (DPS 5.2.8)
        replicas = self.replica_status()
        if replicas is not None and replicas["incidents"]:
            ok = False  # an HSM lacks a key of the zone, or holds another (issue 14)
        return {
            "status": "ok" if ok else "degraded",
            "zone": self.settings.origin,
            "serial": primary.serial if primary else None,
            "started": self.started.isoformat(),
            "dns": list(self.dns_address or ()),
            "epp": list(self.epp_address or ()),
            "transfers": primary.transfers if primary else 0,
            "primary_problem": primary.problem if primary else None,
            "pending": scheduler.last_pending if scheduler else None,
            "scheduler_error": scheduler.last_error if scheduler else None,
            "last_cycle": last,
            "notify": notify,
            "audit": {
                **(watch.status() if watch is not None else {"checked_through": None}),
                "error": self.audit_watch_error,
                "anchors": self.audit_state.get("anchors"),
                "external_anchors": self.audit_state.get("external_anchors"),
                "next_maintenance": self.audit_state.get("next_maintenance"),
                "warnings": self.audit_state.get("warnings", []),
            },
            "hsm": hsm,
            "replicas": replicas,
        }

    async def watch_replicas(self, seconds: float) -> None:
        """The daily replica proof (and one at each activation): every HSM signs a fresh
        challenge with every key, while the HSM is active (``cycle/replicas.py``)."""
        while True:
            self.replica_check.clear()
            if self.activation is not None and self.activation.active:
                async with self.hsm_lock:  # no activation or deactivation meanwhile
                    try:
                        await asyncio.to_thread(self.check_replicas)
                    except TldsecError as exc:
                        log.error("replica proof failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self.replica_check.wait()

    def check_replicas(self) -> ReplicaReport:
        """Prove every key on every HSM with the stores the activation holds open."""
        from tldsec.audit.config import open_audit_log
        from tldsec.cycle.replicas import check
        from tldsec.keys.database import open_signer_db
        from tldsec.keys.service import KeyManager

        assert self.activation is not None
        stores = self.activation.stores()
        hsms: dict[str, KeyStore | KeyStoreError] = {
            t.name: stores.get(t.name) or KeyStoreUnavailable(f"{t.name} is not open")
            for t in self.activation.tokens
        }
        engine = open_signer_db(self.settings.signer_db_url)
        try:
            records = KeyManager(
                engine, None, self.settings.policy, self.clock, origin=self.settings.origin
            ).key_records()
        finally:
            engine.dispose()
        audit = open_audit_log(self.settings, self.clock)
        try:
            report = check(
                self.settings, hsms, records, self.clock.now(), audit.record, SERVE_ACTOR
            )
        finally:
            audit.close()
        for proof in report.incidents:
            log.error("INCIDENT replica proof: %s", proof.line())
        return report

    def replica_status(self) -> dict[str, Any] | None:
        """The last replica proof on disk (a cycle, 'tldsec hsm check' or the daily check
        wrote it); None without [[keystore.replica]]."""
        from tldsec.cli.status import replica_status

        return replica_status(self.settings)

    def hsm_status(self) -> dict[str, Any]:
        if not self.signing:
            return {"state": "not used (--no-cycle)", "tokens": []}
        if self.activation is None:
            return {"state": "keys on disk", "tokens": []}
        return self.activation.status()

    # --- HSM activation (DPS 5.2.8, 5.2.9, 5.4, 5.5) --------------------------------------

    async def hsm_request(self, request: dict[str, Any], peer: Peer) -> dict[str, Any]:
        """One request on the activation socket: status, activate, deactivate."""
        op = request["op"]
        actor = _actor(request.get("actor"))
        if op == "status":
            return {"ok": True, "hsm": self.hsm_status()}
        async with self.hsm_lock:
            if op == "activate":
                return await self._activate(request, actor, peer)
            if op == "deactivate":
                return await self._deactivate(actor, peer)
        return {"ok": False, "error": f"unknown request {op!r} (status, activate, deactivate)"}

    async def _activate(self, request: dict[str, Any], actor: str, peer: Peer) -> dict[str, Any]:
        activation = self.activation
        assert activation is not None
        pins = request.get("pins")
        if not isinstance(pins, dict) or not all(isinstance(v, str) for v in pins.values()):
            return {"ok": False, "error": "activate needs pins: {token name: PIN}"}
        try:
            await asyncio.to_thread(activation.activate, pins, now=self.clock.now(), by=actor)
        except KeyStoreLoginError as exc:
            log.error("HSM activation refused: %s", exc)
            await asyncio.to_thread(
                self._audit_as,
                "access.login_failed",  # DPS 5.5, as every refused HSM login (cli/main.py)
                actor,
                channel="hsm",
                command="hsm activate",
                error=str(exc),
                peer=peer.as_json(),
            )
            return {"ok": False, "error": str(exc)}
        except KeyStoreError as exc:
            log.error("HSM activation failed: %s", exc)
            await asyncio.to_thread(
                self._audit_as, "hsm.failure", actor, reason=str(exc), peer=peer.as_json()
            )
            return {"ok": False, "error": str(exc)}
        log.info("HSM activated by %s", actor)
        self.replica_check.set()  # every HSM proves its keys at once (issue 14 item 5)
        await asyncio.to_thread(
            self._audit_as,
            "hsm.activated",
            actor,
            tokens=[f"{t.name} '{t.label}'" for t in activation.tokens],
            ceremony=request.get("ceremony"),
            peer=peer.as_json(),
        )
        return {"ok": True, "hsm": self.hsm_status()}

    async def _deactivate(self, actor: str, peer: Peer) -> dict[str, Any]:
        activation = self.activation
        assert activation is not None
        await self._stop_child()  # its sessions close with it: the cycle stops unpublished
        await asyncio.to_thread(activation.deactivate, now=self.clock.now(), by=actor)
        log.info("HSM deactivated by %s", actor)
        await asyncio.to_thread(self._audit_as, "hsm.deactivated", actor, peer=peer.as_json())
        return {"ok": True, "hsm": self.hsm_status()}

    async def _activate_stored(self) -> None:
        """A home that stores its PINs (not the dps policy) is activated at start."""
        activation = self.activation
        assert activation is not None
        actor = "component:serve"
        try:
            await asyncio.to_thread(activation.activate, {}, now=self.clock.now(), by=actor)
        except KeyStoreError as exc:
            log.error("HSM activation with the stored PIN failed: %s", exc)
            if isinstance(exc, KeyStoreLoginError):
                await asyncio.to_thread(
                    self._audit_as,
                    "access.login_failed",
                    actor,
                    channel="hsm",
                    command="serve",
                    error=str(exc),
                )
            else:
                await asyncio.to_thread(self._audit_as, "hsm.failure", actor, reason=str(exc))
            return
        await asyncio.to_thread(self._audit_as, "hsm.activated", actor, pin_source="stored")

    async def _deactivate_on_exit(self) -> None:
        if self.activation is not None and self.activation.active:
            await self._stop_child()
            await asyncio.to_thread(
                self.activation.deactivate, now=self.clock.now(), by="component:serve"
            )

    async def _health(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readline()
                headers: list[bytes] = []
                while (line := await reader.readline()).strip() and len(headers) < 100:
                    headers.append(line)
            method, path, *_ = [*request.decode("latin-1").split(), "", ""]
            status, body = "404 Not Found", {"error": "GET /health, GET /status, POST /cycle"}
            if method == "GET" and path in ("/health", "/status", "/"):
                body = self.health()
                status = "200 OK" if body["status"] == "ok" else "503 Service Unavailable"
            elif method == "POST" and not authorised(headers, self.control_token):
                status = "401 Unauthorized"
                body = {"error": f"send 'Authorization: Bearer' with the token in "
                        f"{token_path(self.settings.home)}"}  # fmt: skip
            elif method == "POST" and path == "/cycle" and self.scheduler is not None:
                self.scheduler.trigger.set()
                status, body = "202 Accepted", {"cycle": "requested"}
            data = json.dumps(body, indent=2).encode() + b"\n"
            writer.write(
                f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError) as exc:
            log.debug("health: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def _actor(value: Any) -> str:
    """The actor a client names (``person:NAME``), kept to the audit log's actor form."""
    import re

    if isinstance(value, str) and re.fullmatch(r"person:[A-Za-z0-9._@+-]{1,128}", value):
        return value
    return "person:unknown"


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()
