"""serve's change trace (decision 51): every ``[distribute] poll_seconds`` the live pass
(``trace/live.py``: which secondary serves which serial, the "live" poll messages, the
``tldsec_ds_change_to_served_seconds`` histogram) and, on a thread of its own because it
waits on other people's name servers, the DS advisory pass (``trace/advice.py``).
A database that does not answer is retried with back-off; the probes report it.

Which role runs which (decision 54, DPS 5.6): the live pass asks the secondaries for
their SOA, so it runs in the primary role, the distribution system that already talks
to them; the advisory pass asks the registrants' name servers, so it runs in the
registry role. The signer role sends neither: it only connects to its databases and
pushes to its primaries. Both write to the registry database, where the trace, the
console and the metrics read them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from tldsec.backoff import Backoff
from tldsec.clock import Clock
from tldsec.cycle.lease import default_holder
from tldsec.distribute.config import DistributeSettings
from tldsec.registry.advisory import Advisor
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.zonerows import zone_id_of
from tldsec.settings import Settings
from tldsec.trace.advice import AdvisoryPass
from tldsec.trace.live import LiveTracker
from tldsec.trace.secondaries import nodes_of

log = logging.getLogger("tldsec.serve.trace")


def trace_tasks(
    settings: Settings,
    dist: DistributeSettings,
    clock: Clock,
    served: Callable[[list[float]], None],
    primary: tuple[str, int] | None = None,
    *,
    live: bool = True,
    advisory: bool = True,
) -> tuple[list[Callable[[], Any]], Callable[[], None]]:
    """The coroutines to run beside the servers (``live``: the live pass, asking the
    secondaries or the hidden primary at ``primary``; ``advisory``: the DS advisory
    pass, if ``[epp] poll_advisory``), and what closes their database."""
    table = settings.config.epp
    registry = RegistryDatabase.from_url(settings.registry_db_url)
    every = dist.poll_seconds
    tasks: list[Callable[[], Any]] = []
    if live:
        # One tracker per zone (decisions 67, 72): each zone's serials, by its registry
        # id, and the secondaries that serve it.
        with registry.read() as session:
            zone_ids = {origin: zone_id_of(session, origin) for origin in settings.zones}
        trackers = [
            LiveTracker(
                registry,
                origin,
                zone_ids[origin],
                nodes_of(dist, primary, origin),
                clock,
                poll=table.poll_live,
                primary=settings.config.lease.name or default_holder(settings.home),
            )
            for origin in settings.zones
        ]

        def live_pass() -> None:
            for tracker in trackers:
                changes = tracker.run_once()
                if changes:
                    served([c.seconds for c in changes])
                    log.info(
                        "changes live in %s: %s",
                        tracker.origin,
                        ", ".join(c.sv_trid for c in changes),
                    )

        tasks.append(lambda: _loop("live", live_pass, every))
    if advisory and table.poll_advisory:
        advisor = Advisor(timeout=settings.config.console.advisory_timeout_seconds)
        advisory_pass = AdvisoryPass(registry, advisor, clock)
        tasks.append(lambda: _loop("advisory", advisory_pass.run_once, every))
    return tasks, registry.engine.dispose


async def _loop(name: str, work: Callable[[], object], seconds: float) -> None:
    backoff = Backoff(seconds)
    while True:
        try:
            await asyncio.to_thread(work)
            ok = True
        except SQLAlchemyError as exc:
            log.warning("trace %s pass: the registry database did not answer: %s", name, exc)
            ok = False
        await asyncio.sleep(backoff.next(ok))
