"""``Service``: the parts of ``tldsec serve`` in one process, started and stopped together.

One process runs the hidden primary (SOA/AXFR/IXFR to the secondaries, NOTIFY), the EPP
server (registrars), the cycle scheduler (cycles as child processes, ``cycles.py``), the
HSM activation socket (``hsm.py``), the audit watch (``auditing.py``), the database
probes (``probes.py``) and the HTTP endpoints (``http.py``: /health, /metrics, POST
/cycle), the outreach worker (the public repository, the notices and the parent check of
``parent.py``), with one JSON log line per event. The primary picks up each new serial
from the distribution store (DPS 5.6: the signing side pushes, the primary never reaches
back).

Each zone of the home has its own scheduler, checker and cycle child (``zones.py``,
decision 67); the children share the cores through ``CycleSlots`` (``[cycle]
concurrent``, ``full_signs``), so one zone's full sign, failure or held change never
holds another zone's cycle back. The primary serves every zone's store and NOTIFYs a
zone's secondaries after that zone's commit.

The scheduler (DPS 3.5.2: DS changes reach the zone within the hour) looks every
``[cycle] check_seconds`` for work (``Cycle.pending``: a cheap check). A registry change
starts a cycle once the policy's debounce has passed since it was first seen
(change-driven mode, ``[cycle] change_driven``); key steps, signatures to refresh and
interrupted cycles start one at once; without change-driven mode, work found is done at
the policy's cycle interval. ``POST /cycle``, or SIGHUP, runs a cycle at once. SIGINT
(Ctrl-C) or SIGTERM stops everything cleanly.

Outages never stop the service (issue 22 item 3): a database, the audit log or the HSM
that fails is a fault on /health (503, with the reason) and in ``tldsec status``, the
primary keeps serving the last good zone, and each part retries with back-off until it
answers again; /health then returns to 200 by itself.

The HSM (DPS 5.2.8, 5.2.9): where the Security Officer holds the PIN (``[keystore]
pin_source = "security-officer"``) serve starts locked: the primary serves the last good
zone, no cycle runs, and health says ``locked``. ``tldsec hsm activate`` brings the PIN
over the activation socket (``activation.py``); serve logs in to every HSM, keeps the
PIN in memory only and hands it to each cycle process through a pipe. ``tldsec hsm
deactivate`` stops a running cycle, logs out and closes every session.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import dns.name
from sqlalchemy import Engine

from tldsec.atomicfile import replacing
from tldsec.audit.startup import FileHashes
from tldsec.audit.watch import AuditWatch
from tldsec.backoff import Backoff
from tldsec.clock import Clock, from_epoch
from tldsec.cycle import Cycle, load_cycle_settings, open_cycle
from tldsec.cycle.schedule import CycleSlots, Scheduler
from tldsec.cycle.state import CycleState
from tldsec.distribute.config import DistributeSettings
from tldsec.distribute.notify import Notifier, notify_targets
from tldsec.distribute.push import Pusher
from tldsec.distribute.pushconfig import PushSettings, load_push_settings
from tldsec.distribute.receive import PushReceiver, PushZone
from tldsec.distribute.server import Access, PrimaryServer
from tldsec.distribute.store import ZoneStore
from tldsec.errors import TldsecError
from tldsec.hsm.activation import Activation
from tldsec.notify.worker import Worker, serve_worker
from tldsec.service.activation import socket_path, start_server, tokens_of
from tldsec.service.auditing import AuditMonitor
from tldsec.service.control import control_token, token_path
from tldsec.service.cycles import CycleRunner
from tldsec.service.epp import start_epp
from tldsec.service.health import HSM_LOCKED, faults, zone_faults
from tldsec.service.hsm import REPLICA_CHECK_SECONDS, HsmControl
from tldsec.service.http import HttpServer, make_app
from tldsec.service.metrics import Metrics, Snapshot, ZoneSnapshot
from tldsec.service.parent import ParentCheckPass
from tldsec.service.probes import Facts, Probes
from tldsec.service.publication import Publication, ZoneLease
from tldsec.service.pushaudit import RefusalRecorder
from tldsec.service.roles import ALL_ROLES, PRIMARY, REGISTRY, SIGNER
from tldsec.service.trace import trace_tasks
from tldsec.service.zones import ZoneCycles, zone_probe
from tldsec.settings import Settings
from tldsec.zonehome import ZoneHome

log = logging.getLogger("tldsec.serve")
DEFAULT_HEALTH = "127.0.0.1:8053"
METRICS_FILE_SECONDS = 15.0  # the textfile collector reads it at each scrape
PROBE_SECONDS = 5.0  # how often the databases are asked while they answer


class Service(HsmControl, AuditMonitor, CycleRunner, Publication):
    """The servers, the scheduler and the monitors of ``tldsec serve``."""

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
        self.console_address: tuple[str, int] | None = None  # the registrar console (HTTPS)
        self.dns_address: tuple[str, int] | None = None
        self.health_address: tuple[str, int] | None = None
        self.primary: PrimaryServer | None = None
        # One zone's scheduler, checker and child each (zones.py); ``--zone`` is given
        # to the child only where the home has several zones (a one-zone home's child
        # finds its only zone, as before).
        several = len(settings.zones) > 1
        self.zone_cycles = {
            origin: ZoneCycles(
                origin, settings.for_zone(origin), ("--zone", origin) if several else ()
            )
            for origin in settings.zones
        }
        conf = settings.config.cycle
        # [cycle] concurrent = 0: one child per core, at least 2 (a full sign and an
        # incremental cycle side by side, decision 57)
        self.slots = CycleSlots(conf.concurrent or max(2, os.cpu_count() or 1), conf.full_signs)
        self.signing_workers = load_cycle_settings(settings).signing_workers
        self.audit_watch: AuditWatch | None = None
        self.audit_watch_error: str | None = None
        self.audit_state: dict[str, Any] = {}  # audit/status.py, refreshed by the watch
        self._files: FileHashes | None = None  # config and policy hashes last recorded
        self.start_recorded = asyncio.Event()  # set once system.started is in the log
        # The HSM logins (None: keys on disk, nothing to activate).
        tokens = tokens_of(settings)
        self.activation: Activation | None = Activation(tokens) if tokens else None
        self.hsm_lock = asyncio.Lock()
        self.signing = True  # False: no signer role, nothing is signed here
        self.replica_check = asyncio.Event()  # set: prove the keys on every HSM now
        self.control_token = control_token(settings.home)  # POST /cycle needs it
        self.facts = Facts()  # the last probe (probes.py)
        self.metrics = Metrics(self.snapshot, zones=list(self.zone_cycles))
        self.outreach: Worker | None = None  # publish and notify (notify/worker.py)
        self.parent_checks: dict[str, ParentCheckPass] = {}  # each zone's (parent.py)
        self.roles: frozenset[str] = ALL_ROLES  # service/roles.py
        self.push_receiver: PushReceiver | None = None  # the primary role's listener
        self.push_address: tuple[str, int] | None = None
        self.metrics_file: Path | None = None  # the signer role alone: textfile metrics
        # The publication lease and the pushes (publication.py).
        self.leases: dict[str, ZoneLease] = {}  # each zone's (none: no signer role)
        self.lease_engine: Engine | None = None
        self.pushers: dict[str, Pusher] = {}

    async def serve(
        self,
        dns_listen: tuple[str, int],
        health: tuple[str, int],
        *,
        epp: bool = True,
        epp_listen: str | None = None,
        epp_processes: int = 1,
        cycles: bool = True,
        console_listen: str | None = None,
        roles: frozenset[str] = ALL_ROLES,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.roles = roles
        cycles = cycles and SIGNER in roles
        epp = epp and REGISTRY in roles
        push = load_push_settings(self.settings)
        async with contextlib.AsyncExitStack() as stack:
            if cycles:
                # Only one signer publishes (decision 49): the lease before any cycle.
                self.open_lease()
                stack.callback(self.close_lease)
                await self.first_lease()
            if PRIMARY in roles:
                self.primary = self._primary()
                stack.push_async_callback(self.primary.close)
                self.dns_address = await self.primary.start(*dns_listen)
                await self.primary.refresh()
                self.primary.start_watching(self.dist.poll_seconds)
                if push.signers:
                    # decision 54: every refusal into the audit log, by one task
                    refusals = RefusalRecorder(self._audit)
                    stack.push_async_callback(refusals.drain)
                    stack.push_async_callback(_cancel, loop.create_task(refusals.run()))
                    self.push_receiver = self._receiver(push, refusals)
                    self.push_address = await self.push_receiver.start()
                    stack.push_async_callback(self.push_receiver.close)
            if epp:
                self.epp_address, close_epp = await start_epp(
                    self.settings, self.clock, epp_listen, epp_processes
                )
                stack.push_async_callback(close_epp)
            if console_listen is not None:
                # The registrar console (docs/console.md) in this loop, with its own
                # database pool and audit log as EPP has.
                from tldsec.console.server import start_console

                self.console_address, close_console = await start_console(
                    self.settings, self.clock, console_listen
                )
                stack.push_async_callback(close_console)
            if roles & {REGISTRY, PRIMARY}:
                http = HttpServer(self.app())
                self.health_address = await http.start(*health)
                stack.push_async_callback(http.close)
            else:
                # The signer alone listens on no network socket (decision 49): its
                # metrics go to a file for node_exporter's textfile collector.
                self.metrics_file = metrics_textfile(self.settings)
                task = loop.create_task(self.write_metrics(self.metrics_file))
                stack.push_async_callback(_cancel, task)
            watch_seconds = self.settings.config.serve.audit_watch_seconds
            stack.push_async_callback(_cancel, loop.create_task(self.watch_audit(watch_seconds)))
            if not cycles:
                self.activation = None  # a primary apart from the signer holds no HSM
                self.signing = False
            else:
                # The local control socket: HSM activation, and 'tldsec status' asking
                # what is wrong with the running service.
                control = await start_server(socket_path(self.settings.home), self.hsm_request)
                stack.push_async_callback(_close_server, control)
            if self.activation is not None:
                stack.push_async_callback(self._deactivate_on_exit)
                if not self.activation.officer_tokens() and not await self._activate_stored():
                    task = loop.create_task(self.retry_hsm())  # the HSM is away: back-off
                    stack.push_async_callback(_cancel, task)
                if self.settings.keystore.replicas:
                    task = loop.create_task(self.watch_replicas(REPLICA_CHECK_SECONDS))
                    stack.push_async_callback(_cancel, task)
            checkers: dict[str, Cycle] = {}
            if cycles:
                stack.push_async_callback(_cancel, loop.create_task(self.keep_lease()))
                stack.push_async_callback(self._stop_child)
                for zone in self.zone_cycles.values():
                    zone.checker = stack.enter_context(
                        open_cycle(zone.settings, self.clock, keystore=False, audit=False)
                    )
                    pusher = self.start_pusher(push, zone.checker.store)
                    if pusher is not None:
                        stack.push_async_callback(pusher.close)
                    scheduler = self._scheduler(zone.checker)
                    stack.push_async_callback(_cancel, loop.create_task(scheduler.loop()))
                # each zone's changes, key facts and handover are probed (decision 75)
                checkers = {
                    o: z.checker for o, z in self.zone_cycles.items() if z.checker is not None
                }
                loop.add_signal_handler(signal.SIGHUP, self.trigger_all)
                # DPS 1.4.3, 2, 2.1: the public repository (re-written when it changed)
                # and the e-mail notices, on a thread of their own beside the cycles;
                # DPS 2.2: the parent's DS, asked while a KSK's DS waits at a gate.
                # one parent check per zone, each on its own keys
                self.parent_checks = {
                    o: ParentCheckPass(z.settings, self.clock) for o, z in self.zone_cycles.items()
                }
                several = len(self.parent_checks) > 1
                passes: list[tuple[str, Any]] = [
                    (f"parent-check {o}" if several else "parent-check", check)
                    for o, check in self.parent_checks.items()
                ]
                self.outreach = serve_worker(self.settings, self.clock, extra=passes)
                self.outreach.start()
                stack.push_async_callback(asyncio.to_thread, self.outreach.stop)
            if roles & {PRIMARY, REGISTRY}:
                # decision 51: which secondary serves which serial, the poll messages;
                # decision 54: asked by the primary, never by the signer (DPS 5.6)
                makers, close_trace = trace_tasks(
                    self.settings,
                    self.dist,
                    self.clock,
                    self.metrics.changes_served,
                    self.dns_address,
                    live=PRIMARY in roles,
                    advisory=REGISTRY in roles,
                )
                stack.callback(close_trace)
                for make in makers:
                    stack.push_async_callback(_cancel, loop.create_task(make()))
            probes = self._probes(checkers, epp=epp, signer=cycles)
            stack.callback(probes.close)
            every = PROBE_SECONDS
            if cycles:
                every = min(every, load_cycle_settings(self.settings).check_seconds)
            task = loop.create_task(self.watch_probes(probes, every))
            stack.push_async_callback(_cancel, task)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop.set)
            self._announce()
            await self.stop.wait()
            log.info("tldsec serve: stopping")
            await self._record_stop()
        log.info("tldsec serve: stopped")

    def app(self) -> Any:
        """The HTTP endpoints (``http.py``) over this service."""

        def trigger() -> bool:
            return self.trigger_all()

        return make_app(
            health=self.health,
            metrics=self.metrics.exposition,
            trigger=trigger,
            token=self.control_token,
            token_file=token_path(self.settings.home),
        )

    @property
    def scheduler(self) -> Scheduler | None:
        """The only zone's scheduler (a one-zone home; None before it starts)."""
        return self._only_zone().scheduler

    @scheduler.setter
    def scheduler(self, scheduler: Scheduler | None) -> None:
        self._only_zone().scheduler = scheduler

    def trigger_all(self) -> bool:
        """POST /cycle and SIGHUP: a cycle of every zone at once (False: none runs here)."""
        started = [z.scheduler for z in self.zone_cycles.values() if z.scheduler is not None]
        for scheduler in started:
            scheduler.trigger.set()
        return bool(started)

    def _scheduler(self, checker: Cycle) -> Scheduler:
        """The scheduler of ``checker``'s zone (its settings are narrowed to it), kept in
        that zone's state."""
        zone = self.zone_cycles[checker.settings.origin]
        zone.checker = checker
        policy = zone.settings.policy.cycle
        conf = load_cycle_settings(self.settings)

        async def run_cycle(force: bool) -> dict[str, Any] | None:
            return await self.run_zone_cycle(zone, force)

        zone.scheduler = Scheduler(
            check=lambda: asyncio.to_thread(checker.pending),
            run_cycle=run_cycle,
            clock=self.clock,
            debounce=policy.debounce.total_seconds(),
            interval=policy.interval.total_seconds(),
            check_seconds=conf.check_seconds,
            change_driven=conf.change_driven,
            hold=functools.partial(self.hold, zone.origin),
            zone=zone.origin if len(self.zone_cycles) > 1 else "",
        )
        return zone.scheduler

    def hold(self, origin: str) -> str | None:
        """Why no cycle of ``origin`` may start now: its lease, then the HSM (None: one
        may)."""
        return self.lease_hold(origin) or self.signing_hold()

    # --- probes (probes.py) -----------------------------------------------------------

    def _probes(self, checkers: dict[str, Cycle], *, epp: bool, signer: bool = False) -> Probes:
        """The database probes; ``checkers``: each zone's cycle checker (none: no signer
        role here), whose changes, key facts and handover are probed per zone."""
        settings = self.settings
        signer = signer or bool(checkers)
        urls = {"registry": settings.registry_db_url} if (signer or epp) else {}
        if signer:
            urls["signer"] = settings.signer_db_url
        urls["audit"] = settings.audit_db_url
        zones = {origin: zone_probe(checker) for origin, checker in checkers.items()}
        return Probes(urls, registry_facts=epp or signer or bool(zones), zones=zones)

    async def watch_probes(self, probes: Probes, seconds: float = PROBE_SECONDS) -> None:
        """Probe every ``seconds`` while all answer; with back-off while one does not."""
        backoff = Backoff(seconds)
        while True:
            facts, rows = await asyncio.to_thread(probes.run, self.clock.now())
            for name, error in facts.databases.items():
                before = self.facts.databases.get(name)
                if error is not None and error != before:
                    log.error("%s", error)
                elif error is None and before is not None:
                    log.info("%s database answers again", name)
            for origin, found in facts.zones.items():
                before_zone = self.facts.zones.get(origin)
                if found.handed_over is not None and (
                    before_zone is None or before_zone.handed_over is None
                ):
                    # once per serve (not per check): the end of our role is a state
                    log.info("%s", found.handed_over["note"])
            self.facts = facts
            self.metrics.epp_done(rows)
            ok = all(error is None for error in facts.databases.values())
            await asyncio.sleep(backoff.next(ok))

    # --- health and metrics -----------------------------------------------------------

    def audit_report(self) -> dict[str, Any]:
        watch = self.audit_watch
        return {
            **(watch.status() if watch is not None else {"checked_through": None}),
            "error": self.audit_watch_error or self.audit_state.get("error"),
            "anchors": self.audit_state.get("anchors"),
            "external_anchors": self.audit_state.get("external_anchors"),
            "next_maintenance": self.audit_state.get("next_maintenance"),
            "warnings": self.audit_state.get("warnings", []),
        }

    def health(self) -> dict[str, Any]:
        primary = self.primary
        notify = []
        if primary is not None:
            for served in primary.zones.values():
                if served.notifier is not None:
                    notify += [s.as_json() for s in served.notifier.states.values()]
        hsm = self.hsm_status()
        replicas = self.replica_status()
        audit = self.audit_report()
        found = faults(
            primary=primary,
            schedulers={o: z.scheduler for o, z in self.zone_cycles.items()},
            hsm=hsm,
            replicas=replicas,
            audit=audit,
            databases=self.facts.databases,
            serves_zone=PRIMARY in self.roles,
            publication=self.lease_faults() + self.push_faults(),
        )
        # One entry per zone; a one-zone home keeps its top-level keys as before for
        # one release (decision 57, "CLI --zone conventions"), a home of several has
        # None there.
        zones = {origin: self._zone_health(zone) for origin, zone in self.zone_cycles.items()}
        one = next(iter(zones.values())) if len(zones) == 1 else None
        scheduler = self._only_zone().scheduler if one is not None else None
        return {
            "status": "degraded" if found else "ok",
            "faults": found,
            "roles": sorted(self.roles),
            "zone": next(iter(zones)) if one is not None else None,
            "zones": zones,
            "serial": one["serial"] if one is not None else None,
            "started": self.started.isoformat(),
            "dns": list(self.dns_address or ()),
            "epp": list(self.epp_address or ()),
            "console": list(self.console_address or ()),
            "transfers": primary.transfers if primary else 0,
            "primary_problem": primary.problem if primary else None,
            "pending": scheduler.last_pending if scheduler else None,
            "scheduler_error": scheduler.last_error if scheduler else None,
            "last_cycle": scheduler.last if scheduler else None,
            "notify": notify,
            "databases": self.facts.databases,
            "audit": audit,
            "hsm": hsm,
            "replicas": replicas,
            "lease": self.lease_report(),
            "push": self.push_states(),
            "push_listen": list(self.push_address or ()),
            # the zone was handed over to another operator (DPS 4.6): a note, no fault;
            # the only zone's in a one-zone home, each zone's in ``zones``
            "handed_over": one["handed_over"] if one is not None else None,
        }

    def _zone_health(self, zone: ZoneCycles) -> dict[str, Any]:
        """``zone``'s entry in /health: its serial, its scheduler, its cycle's place and
        its own faults (``health.zone_faults``)."""
        found = self.facts.zones.get(zone.origin)
        return {
            "serial": self._serial(zone.origin),
            **zone.report(self.slots.state(zone.origin)),
            "faults": zone_faults(zone.scheduler),
            "handed_over": found.handed_over if found is not None else None,
        }

    def _serial(self, origin: str) -> int | None:
        """The serial served (the primary), else the serial published here (the signer)."""
        if self.primary is not None:
            with contextlib.suppress(KeyError):
                return self.primary.zone(origin).serial
            return None
        if SIGNER in self.roles:
            with contextlib.suppress(TldsecError):
                return self._store(origin).current()
        return None

    def _store(self, origin: str) -> ZoneStore:
        """``origin``'s store (``[distribute] store_dir``, its ``{zone}`` that zone's)."""
        return ZoneStore(self.dist.store_for(origin), origin, self.dist.keep)

    def serve_summary(self) -> dict[str, Any]:
        """For ``tldsec status`` over the control socket: what is wrong with serve."""
        report = self.health()
        found = report["faults"]
        if self.activation is not None and self.activation.officer_tokens():
            # waiting for the Security Officer: 'tldsec status' says so from the HSM's
            # own state (exit 4, waiting), not as a failure
            found = [f for f in found if not f.startswith(HSM_LOCKED)]
        # one entry per zone: its own faults and its cycle (decision 67)
        zones = {
            origin: {"faults": z["faults"], "serial": z["serial"], "cycle": z["cycle"]}
            for origin, z in report["zones"].items()
        }
        return {"status": report["status"], "faults": found, "zones": zones}

    def snapshot(self) -> Snapshot:
        """The state /metrics reports (``metrics.py``), read from memory and files."""
        now = self.clock.now()
        report = self.health()
        audit = report["audit"]
        replicas = report["replicas"]
        return Snapshot(
            now=now,
            zones=[
                self._zone_snapshot(zone, report["zones"][origin], now)
                for origin, zone in self.zone_cycles.items()
            ],
            hsm_state=str(report["hsm"]["state"]),
            hsm_tokens=len(report["hsm"].get("tokens", [])),
            replica_incidents=len(replicas["incidents"]) if replicas is not None else 0,
            audit_reachable=self.audit_watch is not None and not audit.get("error"),
            audit_integrity_alarms=int(audit.get("integrity_alarms") or 0),
            audit_alerts=len(self.audit_watch.alerts) if self.audit_watch is not None else 0,
            audit_checked_through=audit.get("checked_through"),
            faults=report["faults"],
            transfers=report["transfers"],
            primary_problem=report["primary_problem"] is not None,
            signing=self.signing,
            facts=self.facts,
            leases=self.lease_reports(),
        )

    def _zone_snapshot(
        self, zone: ZoneCycles, health: dict[str, Any], now: datetime
    ) -> ZoneSnapshot:
        serial = health["serial"]
        published: datetime | None = None
        if serial is not None:
            with contextlib.suppress(OSError):
                mtime = self._store(zone.origin).zone_path(serial).stat().st_mtime
                published = datetime.fromtimestamp(mtime, tz=now.tzinfo)
        # the zone's cycle state where its cycle keeps it (its checker's), else its
        # zones/NAME/ (a primary apart from the signer: none there, nothing reported)
        path = (
            zone.checker.state_path
            if zone.checker
            else ZoneHome(self.settings.zones_dir, zone.origin).cycle_state
        )
        state = CycleState.load(path)
        last = health["last_cycle"]
        found = self.facts.zones.get(zone.origin)
        return ZoneSnapshot(
            origin=zone.origin,
            facts=found,
            serial=serial,
            serial_published=published,
            earliest_expiry=from_epoch(state.earliest_expiry) if state.earliest_expiry else None,
            signatures_refresh_at=from_epoch(state.resign_at) if state.resign_at else None,
            last_cycle_outcome=last.get("outcome") if last else None,
        )

    # --- the servers ------------------------------------------------------------------

    def _announce(self) -> None:
        roles = ", ".join(sorted(self.roles))
        zones = ", ".join(self.zone_cycles)
        lines = [f"tldsec serve for {zones} (home {self.settings.home})"]
        lines.append(f"  roles            {roles}")
        if self.dns_address:
            host, port = self.dns_address
            lines.append(f"  hidden primary   {host} port {port} (UDP, TCP)")
        if self.epp_address:
            lines.append(f"  EPP              {self.epp_address[0]} port {self.epp_address[1]}")
        if self.console_address:
            host, port = self.console_address
            lines.append(f"  console          https://{host}:{port}/")
        if self.push_address:
            host, port = self.push_address
            lines.append(f"  push listener    {host} port {port} (TLS, pinned signers)")
        health = self.health_address
        if health is not None:
            lines.append(f"  health           http://{health[0]}:{health[1]}/health")
            lines.append(f"  metrics          http://{health[0]}:{health[1]}/metrics")
        if self.metrics_file is not None:
            lines.append(f"  metrics          {self.metrics_file} (no listening socket)")
        if self.primary is not None:
            for served in self.primary.zones.values():
                lines.append(f"  store            {served.store.directory}")
        if all(z.scheduler is None for z in self.zone_cycles.values()):
            lines.append("  cycles           not run by this process (no signer role)")
        if self.leases:
            holder = next(iter(self.leases.values())).lease.holder
            lines.append(f"  lease            publication lease as {holder!r}")
        for pusher in self.pushers.values():
            names = ", ".join(p.name for p in pusher.primaries)
            lines.append(f"  pushes to        {names} ({pusher.store.origin})")
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
                "health": list(health or ()),
                "roles": sorted(self.roles),
            },
        )

    def _zone_refused(self, origin: str, serial: int, error: str, serving: int | None) -> None:
        """The primary refused a zone file of ``origin`` that is not the one the gate
        verified: an incident in the audit log naming the zone (DPS 4.4.1, 4.5.1;
        decision 75), beside ``primary_problem``."""
        self._audit(
            "zone.integrity_failed",
            zone=origin,
            stage="primary",
            serial=serial,
            error=error,
            serving=serving,
        )

    def _receiver(self, push: PushSettings, refused: RefusalRecorder) -> PushReceiver:
        """The push listener for every zone the primary serves, each with its store."""
        primary = self.primary
        assert primary is not None
        zones = [
            PushZone(
                served.store,
                functools.partial(primary.refresh_zone, served),
                functools.partial(getattr, served, "serial"),
            )
            for served in primary.zones.values()
        ]
        first, others = zones[0], tuple(zones[1:])
        return PushReceiver(
            push, first.store, first.load, first.served, on_refused=refused, others=others
        )

    async def write_metrics(self, path: Path, seconds: float = METRICS_FILE_SECONDS) -> None:
        """The exposition into ``path`` (atomically) every ``seconds``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            body = await asyncio.to_thread(self.metrics.exposition)
            await asyncio.to_thread(_write_file, path, body)
            await asyncio.sleep(seconds)

    def _primary(self) -> PrimaryServer:
        """The hidden primary of every zone of the home: each zone's store
        (``store_for``), each zone's NOTIFY to the secondaries that serve it (decision 63)."""
        dist = self.dist
        notifiers = {
            origin: Notifier(
                dns.name.from_text(origin), notify_targets(dist, origin), self.clock, dist.notify
            )
            for origin in self.zone_cycles
        }
        return PrimaryServer(
            [self._store(origin) for origin in self.zone_cycles],
            Access(dist.secondaries, dist.tsig_keys),
            self.clock,
            notifier=notifiers,
            on_refused=self._zone_refused,
        )


def metrics_textfile(settings: Settings) -> Path:
    """Where a process without HTTP writes its metrics: ``[serve] metrics_textfile``,
    by default ``HOME/run/metrics/tldsec.prom``."""
    configured = settings.config.serve.metrics_textfile
    if not configured:
        return settings.home / "run" / "metrics" / "tldsec.prom"
    path = Path(configured)
    return path if path.is_absolute() else settings.home / path


def _write_file(path: Path, body: bytes) -> None:
    with replacing(path, "wb", permissions=0o644) as out:
        out.write(body)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()
