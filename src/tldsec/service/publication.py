"""The signer's side of publication in ``tldsec serve`` (decision 49): the publication
lease, renewed while the signer runs, and the pushes of each new serial to the
configured primaries.

The lease (``cycle/lease.py``) is one per zone (decision 65): each zone's is taken at
start and renewed every ``[lease] renew_seconds``. Without it no cycle of that zone
starts (its scheduler holds, ``lease_hold``) and nothing of it is pushed; if it is lost
while that zone's cycle runs, its child is stopped before its commit point. A signer
that held a lease and lost it is a fault on /health (503); a standby that never held it
is not, its state is shown. Metrics, by ``zone``: ``tldsec_lease_held``,
``tldsec_lease_token``, and the holder as a label of ``tldsec_lease_holder_info``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from tldsec.clock import monotonic
from tldsec.cycle.lease import LeaseRow, LeaseTimes, PublicationLease, default_holder
from tldsec.db.base import make_engine
from tldsec.distribute.push import Pusher
from tldsec.distribute.pushconfig import PushSettings
from tldsec.settings import Settings

if TYPE_CHECKING:
    from tldsec.distribute.store import ZoneStore
    from tldsec.service.zones import ZoneCycles

log = logging.getLogger("tldsec.serve")

LEASE_LOST = "the publication lease was lost"


@dataclass
class ZoneLease:
    """One zone's lease as this signer sees it: the lease, its row as last read, the
    last renewal error, and whether this signer ever held it."""

    lease: PublicationLease
    row: LeaseRow | None = None
    error: str | None = None
    was_held: bool = False

    def hold(self) -> str | None:
        """Why no cycle of the zone may start: this signer does not hold its lease."""
        if self.lease.held() is not None:
            return None
        row = self.row
        other = f" (held by {row.holder}, token {row.token})" if row and row.live else ""
        if self.error:
            return f"the publication lease cannot be renewed: {self.error}"
        return f"this signer does not hold the publication lease{other}"

    def faults(self) -> list[str]:
        if self.lease.held() is not None:
            return []
        if self.was_held or self.error:
            return [f"{LEASE_LOST}: {self.hold()}; this signer stops publishing"]
        return []  # a standby that never held it: not a fault

    def report(self) -> dict[str, Any]:
        lease = self.lease
        holding, row = lease.held(), self.row
        return {
            "me": lease.holder,
            "held": holding is not None,
            "token": holding.token if holding else None,
            "state": "active" if holding else ("lost" if self.was_held else "standby"),
            "holder": row.holder if row and row.live else None,
            "holder_token": row.token if row else None,
            "error": self.error,
        }


class Publication:
    """The part of ``Service`` that holds the leases and pushes to the primaries."""

    settings: Settings
    leases: dict[str, ZoneLease]  # each zone's, by origin (none: no signer role)
    lease_engine: Engine | None
    pushers: dict[str, Pusher]  # each zone's, by origin (none: nothing is pushed)
    zone_cycles: dict[str, ZoneCycles]

    if TYPE_CHECKING:  # from the other parts of Service

        async def _stop_zone_child(self, zone: ZoneCycles) -> None: ...

    def open_lease(self) -> dict[str, ZoneLease]:
        """Every zone's lease, for this signer (``[lease] name``)."""
        table = self.settings.config.lease
        times = LeaseTimes(table.ttl_seconds, table.renew_seconds, table.margin_seconds)
        self.lease_engine = engine = make_engine(self.settings.registry_db_url)
        holder = table.name or default_holder(self.settings.home)
        self.leases = {
            origin: ZoneLease(PublicationLease(engine, holder, times, origin=origin))
            for origin in self.settings.zones
        }
        return self.leases

    def close_lease(self) -> None:
        for zone in self.leases.values():
            try:
                zone.lease.release()
            except SQLAlchemyError as exc:
                log.warning(
                    "publication lease of %s: not released (%s); it expires by itself",
                    zone.lease.origin,
                    exc,
                )
        if self.lease_engine is not None:
            self.lease_engine.dispose()

    async def first_lease(self) -> None:
        """One try before the schedulers start, so a free lease does not hold the first
        cycles back; a database that does not answer is left to ``keep_lease``."""
        for zone in self.leases.values():
            lease = zone.lease
            with contextlib.suppress(SQLAlchemyError, TimeoutError):
                async with asyncio.timeout(lease.times.margin):
                    await asyncio.to_thread(lease.try_acquire)
                    zone.row = await asyncio.to_thread(lease.read)
            if lease.held() is not None:
                zone.was_held = True

    async def keep_lease(self) -> None:
        """Take and renew every zone's lease; stop a zone's running cycle the moment its
        lease is lost."""
        while True:
            waits = [await self._renew(zone) for zone in self.leases.values()]
            await self._lost_stops_cycle()
            await asyncio.sleep(min(waits, default=1.0))
            await self._lost_stops_cycle()

    async def _renew(self, zone: ZoneLease) -> float:
        """One renewal of ``zone``'s lease; the seconds until the next."""
        lease = zone.lease
        times = lease.times
        try:
            # A hung database must not keep us from noticing the deadline pass.
            async with asyncio.timeout(times.margin):
                await asyncio.to_thread(lease.try_acquire)
                zone.row = await asyncio.to_thread(lease.read)
            zone.error = None
        except (SQLAlchemyError, TimeoutError) as exc:
            error = " ".join(str(getattr(exc, "orig", None) or exc).split()) or (
                f"no answer within [lease] margin_seconds = {times.margin:g}"
            )
            if error != zone.error:
                log.error("publication lease of %s: the registry database: %s", lease.origin, error)
            zone.error = error
        if lease.held() is not None:
            zone.was_held = True
        # A failed renewal is tried again within a second: the deadline is near.
        wait = times.renew if zone.error is None else min(times.renew, 1.0)
        holding = lease.holding
        if holding is not None and holding.deadline > monotonic():
            wait = min(wait, holding.deadline - monotonic() + 0.01)
        return wait

    async def _lost_stops_cycle(self) -> None:
        for origin, zone in self.leases.items():
            cycles = self.zone_cycles.get(origin)
            if cycles is None or cycles.child is None or zone.lease.held() is not None:
                continue
            log.error(
                "publication lease of %s not held while its cycle runs: the cycle is stopped",
                origin,
            )
            cycles.stopped_for = (
                "the publication lease was not renewed in time; the cycle was stopped before "
                "its commit point (retried once the lease is held again)"
            )
            await self._stop_zone_child(cycles)

    def lease_hold(self, origin: str) -> str | None:
        """Why no cycle of ``origin`` may start: this signer does not hold its lease
        (None: it does, or this process holds no lease)."""
        zone = self.leases.get(origin)
        return None if zone is None else zone.hold()

    def lease_faults(self) -> list[str]:
        several = len(self.leases) > 1
        return [
            f"{origin}: {line}" if several else line
            for origin, zone in self.leases.items()
            for line in zone.faults()
        ]

    def lease_report(self) -> dict[str, Any] | None:
        """The one zone's lease (a one-zone home, as before); in a home of several,
        ``{"zones": {origin: ...}}``; None: no lease here."""
        if not self.leases:
            return None
        reports = {origin: zone.report() for origin, zone in self.leases.items()}
        if len(reports) == 1:
            return next(iter(reports.values()))
        return {"zones": reports}

    def lease_reports(self) -> dict[str, dict[str, Any]]:
        """Every zone's lease, by origin."""
        return {origin: zone.report() for origin, zone in self.leases.items()}

    def push_faults(self) -> list[str]:
        """Every zone's pushes that a primary refused or did not take."""
        return [line for pusher in self.pushers.values() for line in pusher.faults()]

    def push_states(self) -> list[dict[str, Any]]:
        return [s.as_json() for p in self.pushers.values() for s in p.states.values()]

    def start_pusher(self, push: PushSettings, store: ZoneStore) -> Pusher | None:
        """Push each new serial of ``store``'s zone to ``[[push.primaries]]`` (none:
        nothing to push)."""
        if not push.primaries:
            return None
        zone = self.leases.get(store.origin)

        def token() -> int:
            if zone is None:
                return 0
            return zone.lease.check().token

        pusher = self.pushers[store.origin] = Pusher(
            store,
            push.primaries,
            push.cert,
            push.key,
            token,
            timeout=push.timeout,
            retry=push.retry,
        )
        pusher.start()
        return pusher
