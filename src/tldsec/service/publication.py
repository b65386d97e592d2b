"""The signer's side of publication in ``tldsec serve`` (decision 49): the publication
lease, renewed while the signer runs, and the pushes of each new serial to the
configured primaries.

The lease (``cycle/lease.py``) is taken at start and renewed every ``[lease]
renew_seconds``. Without it no cycle starts (the scheduler holds, ``signing_hold``) and
nothing is pushed; if it is lost while a cycle runs, the cycle child is stopped before
its commit point. A signer that held the lease and lost it is a fault on /health (503);
a standby that never held it is not, its state is shown. Metrics: ``tldsec_lease_held``,
``tldsec_lease_token``, and the holder as a label of ``tldsec_lease_holder_info``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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

log = logging.getLogger("tldsec.serve")

LEASE_LOST = "the publication lease was lost"


class Publication:
    """The part of ``Service`` that holds the lease and pushes to the primaries."""

    settings: Settings
    lease: PublicationLease | None
    lease_engine: Engine | None
    lease_row: LeaseRow | None
    lease_error: str | None
    lease_was_held: bool
    pusher: Pusher | None
    _child: asyncio.subprocess.Process | None
    stopped_for: str | None

    if TYPE_CHECKING:  # from the other parts of Service

        async def _stop_child(self) -> None: ...

    def open_lease(self) -> PublicationLease:
        table = self.settings.config.lease
        times = LeaseTimes(table.ttl_seconds, table.renew_seconds, table.margin_seconds)
        self.lease_engine = make_engine(self.settings.registry_db_url)
        holder = table.name or default_holder(self.settings.home)
        self.lease = PublicationLease(self.lease_engine, holder, times, origin=self.settings.origin)
        return self.lease

    def close_lease(self) -> None:
        lease = self.lease
        if lease is not None:
            try:
                lease.release()
            except SQLAlchemyError as exc:
                log.warning("publication lease: not released (%s); it expires by itself", exc)
        if self.lease_engine is not None:
            self.lease_engine.dispose()

    async def first_lease(self) -> None:
        """One try before the scheduler starts, so a free lease does not hold the first
        cycle back; a database that does not answer is left to ``keep_lease``."""
        lease = self.lease
        assert lease is not None
        with contextlib.suppress(SQLAlchemyError, TimeoutError):
            async with asyncio.timeout(lease.times.margin):
                await asyncio.to_thread(lease.try_acquire)
                self.lease_row = await asyncio.to_thread(lease.read)
        if lease.held() is not None:
            self.lease_was_held = True

    async def keep_lease(self) -> None:
        """Take and renew the lease; stop a running cycle the moment it is lost."""
        lease = self.lease
        assert lease is not None
        times = lease.times
        while True:
            try:
                # A hung database must not keep us from noticing the deadline pass.
                async with asyncio.timeout(times.margin):
                    await asyncio.to_thread(lease.try_acquire)
                    self.lease_row = await asyncio.to_thread(lease.read)
                self.lease_error = None
            except (SQLAlchemyError, TimeoutError) as exc:
                error = " ".join(str(getattr(exc, "orig", None) or exc).split()) or (
                    f"no answer within [lease] margin_seconds = {times.margin:g}"
                )
                if error != self.lease_error:
                    log.error("publication lease: the registry database: %s", error)
                self.lease_error = error
            if lease.held() is not None:
                self.lease_was_held = True
            await self._lost_stops_cycle()
            # A failed renewal is tried again within a second: the deadline is near.
            wait = times.renew if self.lease_error is None else min(times.renew, 1.0)
            holding = lease.holding
            if holding is not None and holding.deadline > monotonic():
                wait = min(wait, holding.deadline - monotonic() + 0.01)
            await asyncio.sleep(wait)
            await self._lost_stops_cycle()

    async def _lost_stops_cycle(self) -> None:
        lease = self.lease
        if lease is not None and lease.held() is None and self._child is not None:
            log.error("publication lease not held while a cycle runs: the cycle is stopped")
            self.stopped_for = (
                "the publication lease was not renewed in time; the cycle was stopped before "
                "its commit point (retried once the lease is held again)"
            )
            await self._stop_child()

    def lease_hold(self) -> str | None:
        """Why no cycle may start: this signer does not hold the lease (None: it does)."""
        if self.lease is None or self.lease.held() is not None:
            return None
        row = self.lease_row
        other = f" (held by {row.holder}, token {row.token})" if row and row.live else ""
        if self.lease_error:
            return f"the publication lease cannot be renewed: {self.lease_error}"
        return f"this signer does not hold the publication lease{other}"

    def lease_faults(self) -> list[str]:
        if self.lease is None or self.lease.held() is not None:
            return []
        if self.lease_was_held or self.lease_error:
            why = self.lease_hold()
            return [f"{LEASE_LOST}: {why}; this signer stops publishing"]
        return []  # a standby that never held it: not a fault

    def lease_report(self) -> dict[str, Any] | None:
        lease = self.lease
        if lease is None:
            return None
        holding, row = lease.held(), self.lease_row
        return {
            "me": lease.holder,
            "held": holding is not None,
            "token": holding.token if holding else None,
            "state": "active" if holding else ("lost" if self.lease_was_held else "standby"),
            "holder": row.holder if row and row.live else None,
            "holder_token": row.token if row else None,
            "error": self.lease_error,
        }

    def start_pusher(self, push: PushSettings, store: ZoneStore) -> Pusher | None:
        """Push each new serial to ``[[push.primaries]]`` (none: nothing to push)."""
        if not push.primaries:
            return None
        lease = self.lease

        def token() -> int:
            if lease is None:
                return 0
            return lease.check().token

        self.pusher = Pusher(
            store,
            push.primaries,
            push.cert,
            push.key,
            token,
            timeout=push.timeout,
            retry=push.retry,
        )
        self.pusher.start()
        return self.pusher
