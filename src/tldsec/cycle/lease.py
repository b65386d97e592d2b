"""The publication lease: only one signer publishes a zone at a time (issue 20 item 2,
DPS 5.6).

One row of the registry database (``publication_lease``) per zone, named by the zone's
origin (decision 65), says which signer may publish that zone, until when, and under
which fencing token. A signer takes or renews it with a single statement that succeeds
only if the lease has expired or is already its own::

    UPDATE publication_lease
       SET token = CASE WHEN holder = :me THEN token ELSE token + 1 END, holder = :me, ...
     WHERE name = 'example.' AND (expires_ms < NOW OR holder = :me)
    RETURNING token, expires_ms

so two signers racing for an expired lease cannot both win (the row is locked by the
first UPDATE; the second sees the new holder), and the token grows at each change of
holder. Expiry is measured on the database's clock (one clock for every site: a host
whose clock is off cannot take a lease early); the holder measures its own deadline on
its monotonic clock from *before* it sent the statement, minus a margin, so it stops
publishing before the database could let another signer take the lease, whatever the
delays of the network. Primaries remember the highest token they have accepted and
refuse a push with an older one (``distribute/push.py``): a signer that was paused past
its deadline and wakes up cannot overwrite its successor's zone. Each zone's row, token
and holder are its own (decision 57): two signers may even publish different zones.

Works on SQLite (one host) and PostgreSQL (``UPDATE ... RETURNING`` on both).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tldsec.clock import monotonic as system_monotonic
from tldsec.errors import ConfigError, LeaseLost
from tldsec.registry.models import PublicationLease as LeaseTable
from tldsec.registry.zones import absolute

log = logging.getLogger(__name__)

# The database's clock in milliseconds since the epoch.
_NOW_MS = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    "sqlite": "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
}


@dataclass(frozen=True, slots=True)
class LeaseTimes:
    """How long a lease lasts, how often its holder renews it, and how long before its
    expiry the holder stops publishing (``[lease]`` of tldsec.toml)."""

    ttl: float = 30.0
    renew: float = 10.0
    margin: float = 10.0

    def __post_init__(self) -> None:
        if not (self.renew > 0 and self.margin > 0 and self.renew + self.margin < self.ttl):
            raise ConfigError(
                f"[lease] renew_seconds ({self.renew:g}) + margin_seconds ({self.margin:g}) "
                f"must be less than ttl_seconds ({self.ttl:g}): the holder must renew "
                "before it has to stop publishing"
            )


@dataclass(frozen=True, slots=True)
class Holding:
    """This signer holds the lease under ``token`` until ``deadline`` (its monotonic
    clock: the margin already taken off)."""

    holder: str
    token: int
    expires_ms: int  # the database's clock
    deadline: float


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """The row as it is now, for status and metrics."""

    holder: str
    token: int
    expires_ms: int
    now_ms: int  # the database's clock when it was read

    @property
    def live(self) -> bool:
        return bool(self.holder) and self.expires_ms >= self.now_ms


def default_holder(home: Path) -> str:
    """This host and home: unique per signer, the same after a restart (a restarted
    signer takes its own lease back at once)."""
    return f"{socket.gethostname()}:{home}"[:128]


class PublicationLease:
    """Take, renew, check and release the lease of the zone ``origin`` for ``holder``."""

    def __init__(
        self,
        engine: Engine,
        holder: str,
        times: LeaseTimes | None = None,
        *,
        origin: str,
        monotonic: Callable[[], float] = system_monotonic,
    ) -> None:
        if not holder or len(holder) > 128:
            raise ConfigError("[lease] name must be 1 to 128 characters")
        self.engine = engine
        self.holder = holder
        self.origin = absolute(origin)  # the row's name: "example."
        self.times = times or LeaseTimes()
        self.monotonic = monotonic
        self.holding: Holding | None = None
        dialect = engine.dialect.name
        if dialect not in _NOW_MS:
            raise ConfigError(f"the publication lease needs SQLite or PostgreSQL, not {dialect}")
        self._now = _NOW_MS[dialect]
        self._row_ensured = False

    def try_acquire(self) -> Holding | None:
        """Take the lease, or renew it; None if another signer holds it (``holding`` is
        then cleared). A database error is raised; ``holding`` keeps its deadline."""
        started = self.monotonic()  # before the statement: the deadline errs early
        statement = text(
            f"UPDATE publication_lease SET "
            f"token = CASE WHEN holder = :me THEN token ELSE token + 1 END, "
            f"acquired_ms = CASE WHEN holder = :me THEN acquired_ms ELSE {self._now} END, "
            f"holder = :me, expires_ms = {self._now} + :ttl "
            f"WHERE name = :name AND (expires_ms < {self._now} OR holder = :me) "
            f"RETURNING token, expires_ms"
        )
        with self.engine.begin() as conn:
            self._ensure_row(conn)
            ttl_ms = int(self.times.ttl * 1000)
            values = {"me": self.holder, "ttl": ttl_ms, "name": self.origin}
            row = conn.execute(statement, values).first()
        if row is None:
            if self.holding is not None:
                log.error(
                    "publication lease of %s: another signer holds it now; publishing stops",
                    self.origin,
                )
            self.holding = None
            return None
        token, expires = int(row[0]), int(row[1])
        before = self.holding
        self.holding = Holding(
            self.holder, token, expires, started + self.times.ttl - self.times.margin
        )
        if before is None or before.token != token:
            log.info(
                "publication lease of %s: held by %s with token %d", self.origin, self.holder, token
            )
        return self.holding

    def held(self) -> Holding | None:
        """The lease if this signer holds it with the margin still ahead, else None."""
        holding = self.holding
        if holding is None or self.monotonic() >= holding.deadline:
            return None
        return holding

    def check(self) -> Holding:
        """The lease, or ``LeaseLost`` naming why this signer may not publish now."""
        holding = self.held()
        if holding is not None:
            return holding
        if self.holding is not None:
            raise LeaseLost(
                f"the publication lease of {self.origin} (token {self.holding.token}) was not "
                "renewed in time "
                f"(less than [lease] margin_seconds = {self.times.margin:g} left): this "
                "signer stops publishing until it holds the lease again"
            )
        raise LeaseLost(
            f"signer {self.holder!r} does not hold the publication lease of {self.origin}: "
            "another signer publishes (it takes over when that lease expires)"
        )

    def release(self) -> None:
        """Give the lease up at a clean stop, so another signer may take it at once."""
        if self.holding is None:
            return
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    f"UPDATE publication_lease SET expires_ms = {self._now} - 1 "
                    "WHERE name = :name AND holder = :me"
                ),
                {"name": self.origin, "me": self.holder},
            )
        self.holding = None
        log.info("publication lease of %s: released by %s", self.origin, self.holder)

    def read(self) -> LeaseRow:
        """Who holds the lease now, by the database."""
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    f"SELECT holder, token, expires_ms, {self._now} FROM publication_lease "
                    "WHERE name = :name"
                ),
                {"name": self.origin},
            ).first()
        if row is None:
            return LeaseRow("", 0, 0, 0)
        return LeaseRow(str(row[0]), int(row[1]), int(row[2]), int(row[3]))

    def _ensure_row(self, conn: Connection) -> None:
        """The zone's row, if the database lacks it (once per process): a zone's first
        signer makes it, token 0, so it takes token 1."""
        if self._row_ensured:
            return
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        conn.execute(
            insert(LeaseTable)
            .values(name=self.origin, holder="", token=0, acquired_ms=0, expires_ms=0)
            .on_conflict_do_nothing()
        )
        self._row_ensured = True
