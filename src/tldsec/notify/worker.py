"""The hook for ``tldsec serve``: a thread beside the cycles that re-publishes the public
repository when what it says changed and runs a notice pass, every ``interval`` seconds.

Each pass opens its own database connections and audit log (``publish_pass``,
``notify_pass``) and holds no lock a cycle takes, so a slow SMTP server or web
directory never holds a zone back; a pass that fails is logged and tried again at the
next interval, and the other pass still runs.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from tldsec.audit.config import open_audit_log
from tldsec.clock import Clock
from tldsec.errors import TldsecError
from tldsec.keys.database import open_signer_db
from tldsec.notify.notices import DEFAULT_LOOKBACK
from tldsec.notify.run import Report, run_once
from tldsec.notify.served import served_ds_changes
from tldsec.publish.home import Published, publish_home
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.registrars import list_registrars
from tldsec.settings import Settings

log = logging.getLogger(__name__)
Pass = Callable[[], object]


def _addresses(db: RegistryDatabase) -> dict[str, str]:
    """Each enabled registrar's address."""
    with db.read() as session:
        return {r.client_id: r.email for r in list_registrars(session) if r.enabled}


def notify_pass(settings: Settings, clock: Clock) -> Report:
    """One ``tldsec notify run``: its own connections and audit log. The registry gives
    the registrars' addresses and, when some registrar opted in to "ds-live" notices,
    the DS changes its trace found served by every secondary."""
    now = clock.now()
    registry = RegistryDatabase.from_url(settings.registry_db_url)
    try:
        addresses = _addresses(registry)
        served = (
            served_ds_changes(registry, now - DEFAULT_LOOKBACK)
            if settings.config.notify.ds_live_registrars
            else []
        )
    finally:
        registry.dispose()
    engine = open_signer_db(settings.signer_db_url)
    audit = open_audit_log(settings, clock)
    try:
        return run_once(settings, engine, addresses, audit, now, served=served)
    finally:
        audit.close()
        engine.dispose()


class PublishPass:
    """``tldsec publish`` when the site would say something new (or is missing)."""

    def __init__(self, settings: Settings, clock: Clock, out: Path | None = None) -> None:
        self._settings = settings
        self._clock = clock
        self._out = out
        self._last: str | None = None

    def __call__(self) -> Published | None:
        engine = open_signer_db(self._settings.signer_db_url)
        audit = open_audit_log(self._settings, self._clock)
        try:
            done = publish_home(
                self._settings, engine, audit, self._clock.now(), self._out, unless=self._last
            )
        finally:
            audit.close()
            engine.dispose()
        if done is not None:
            self._last = done.fingerprint
        return done


class Worker:
    """Runs each pass every ``interval`` seconds on one daemon thread until ``stop``."""

    def __init__(self, passes: Sequence[tuple[str, Pass]], interval: float) -> None:
        if interval <= 0:
            raise ValueError("the worker's interval must be positive")
        self._passes = tuple(passes)
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tldsec-notify", daemon=True)
        self.passes_run = 0  # completed rounds, for a caller that waits for one
        self.errors: list[str] = []  # the last failures, newest last (at most 20)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def run_round(self) -> None:
        """Every pass once; a pass's failure is logged and does not stop the others."""
        for name, step in self._passes:
            try:
                step()
            except TldsecError as exc:
                log.warning("%s: %s", name, exc)
                self.errors = [*self.errors[-19:], f"{name}: {exc}"]
        self.passes_run += 1

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.run_round()
            self._stopping.wait(self._interval)


def serve_worker(
    settings: Settings,
    clock: Clock,
    interval: float | None = None,
    extra: Sequence[tuple[str, Pass]] = (),
) -> Worker:
    """The worker ``tldsec serve`` starts: ``extra`` passes first (the parent check), then
    the repository (when ``[[publish.dps]]`` names the DPS) and each zone's notices, every
    ``[notify] every_seconds`` unless ``interval``."""
    passes: list[tuple[str, Pass]] = list(extra)
    if settings.config.publish.dps:
        passes.append(("publish", PublishPass(settings, clock)))
    # One pass per zone (decision 57): each zone's key notices come from its own key
    # manager; the installation's notices (incidents, DPS versions) are made by each
    # pass and sent once, the outbox keeping one of each id.
    zones = settings.selected_zones(None)
    for zone in zones:
        name = "notify" if len(zones) == 1 else f"notify {zone.origin}"
        passes.append((name, functools.partial(notify_pass, zone, clock)))
    return Worker(passes, interval or settings.config.notify.every_seconds)
