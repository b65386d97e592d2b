"""What the service learns from its databases every few seconds, in a thread, so that
neither /health nor /metrics ever waits on a database: whether each database answers
(a fault names it, without its password), the EPP transaction log's new rows (command
latency and result codes, whichever process served them), and per zone of the home
(``ZoneProbe``, decision 75): its registry changes not yet in the zone, its keys' states
and next event, and whether it was handed over to another operator (keys/transfer.py:
our role ended).

A database that does not answer is asked again with back-off (``tldsec.backoff``): the probe
interval doubles up to a minute, and returns to the base once it answers."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from tldsec.db.base import make_engine
from tldsec.errors import TldsecError
from tldsec.registry.models import EppTransaction, ZoneChange

log = logging.getLogger("tldsec.serve")
CONNECT_TIMEOUT = 5  # seconds a probe waits for a PostgreSQL server to answer
EPP_ROWS_PER_PROBE = 10_000  # the newest rows are read in batches this large


@dataclass(frozen=True, slots=True)
class EppRow:
    command: str
    result_code: int
    seconds: float


KeyFacts = tuple[Counter[tuple[str, str]], datetime | None, str | None]


@dataclass(frozen=True, slots=True)
class ZoneProbe:
    """What the probe asks about one zone: its registry id, the last change its cycle
    built, its keys' states and next timed step, whether it was handed over."""

    zone_id: int
    change_id: Callable[[], int]
    key_facts: Callable[[datetime], KeyFacts]
    handed_over: Callable[[datetime], dict[str, str] | None]


@dataclass
class ZoneFacts:
    """One zone's findings in the last probe (``None``: not known)."""

    pending_changes: int | None = None
    oldest_pending: datetime | None = None
    key_states: Counter[tuple[str, str]] = field(default_factory=Counter)  # (role, state)
    next_key_event: datetime | None = None
    next_key_action: str | None = None
    # The zone handed over to another operator, our role ended (operator, handed_over,
    # ended, note); None while it is ours to sign, or not known.
    handed_over: dict[str, str] | None = None


@dataclass
class Facts:
    """The last probe's findings (``None``: not known)."""

    databases: dict[str, str | None] = field(default_factory=dict)  # name: error or None
    zones: dict[str, ZoneFacts] = field(default_factory=dict)  # each zone probed
    probed_at: datetime | None = None


class DatabaseProbe:
    """One database the service needs, asked ``SELECT 1`` on a connection of its own."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.where = repr(make_url(url))  # the URL without its password
        args = {"connect_timeout": CONNECT_TIMEOUT} if url.startswith("postgresql") else {}
        self.engine: Engine = make_engine(url, poolclass=NullPool, connect_args=args)

    def check(self) -> str | None:
        """None if the database answers, else what is wrong, in one line."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None) or exc
            return (
                f"{self.name} database {self.where} does not answer: {' '.join(str(orig).split())}"
            )
        return None

    def close(self) -> None:
        self.engine.dispose()


class Probes:
    """The probes of one service: its databases, and the registry and key facts."""

    def __init__(
        self,
        urls: dict[str, str],
        *,
        registry_facts: bool = False,
        zones: Mapping[str, ZoneProbe] | None = None,
    ) -> None:
        by_url: dict[str, DatabaseProbe] = {}
        self.probes: dict[str, DatabaseProbe] = {}
        for name, url in urls.items():  # one probe per distinct database
            self.probes[name] = by_url.setdefault(url, DatabaseProbe(name, url))
        registry = self.probes.get("registry")
        self.registry = registry.engine if registry is not None and registry_facts else None
        self.zones = dict(zones or {})
        self.epp_after: int | None = None  # the newest epp_transaction row seen

    def run(self, now: datetime) -> tuple[Facts, list[EppRow]]:
        """Probe everything once; never raises for a database that is away."""
        facts = Facts(probed_at=now)
        answers = {id(p): p.check() for p in self.probes.values()}
        facts.databases = {name: answers[id(p)] for name, p in self.probes.items()}
        rows: list[EppRow] = []
        registry_up = facts.databases.get("registry") is None
        facts.zones = {origin: ZoneFacts() for origin in self.zones}
        if self.registry is not None and registry_up:
            try:
                for origin, zone in self.zones.items():
                    found = facts.zones[origin]
                    found.pending_changes, found.oldest_pending = self._pending(
                        zone.change_id(), zone.zone_id
                    )
                rows = self._epp_rows()
            except SQLAlchemyError as exc:
                log.warning("probe: the registry facts: %s", " ".join(str(exc).split()[:20]))
        if facts.databases.get("signer") is None:
            for origin, zone in self.zones.items():
                found = facts.zones[origin]
                try:
                    found.key_states, found.next_key_event, found.next_key_action = zone.key_facts(
                        now
                    )
                    found.handed_over = zone.handed_over(now)
                except (SQLAlchemyError, TldsecError) as exc:
                    log.warning(
                        "probe: the key facts of %s: %s", origin, " ".join(str(exc).split()[:20])
                    )
        return facts, rows

    def _pending(self, after: int, zone_id: int) -> tuple[int, datetime | None]:
        """The changes of ``zone_id`` after ``after`` and when the oldest was made. A
        process without the signer role has no zone probes, knows no zone's last build and
        counts nothing (decision 75)."""
        assert self.registry is not None
        with self.registry.connect() as conn:
            count, first = conn.execute(
                select(func.count(ZoneChange.id), func.min(ZoneChange.id)).where(
                    ZoneChange.id > after, ZoneChange.zone_id == zone_id
                )
            ).one()
            if not count:
                return 0, None
            at = conn.execute(select(ZoneChange.at).where(ZoneChange.id == first)).scalar()
        return int(count), at

    def _epp_rows(self) -> list[EppRow]:
        assert self.registry is not None
        table = EppTransaction
        with self.registry.connect() as conn:
            if self.epp_after is None:  # the log before this start is history, not rate
                self.epp_after = int(conn.execute(select(func.max(table.id))).scalar() or 0)
                return []
            found = conn.execute(
                select(table.id, table.command, table.result_code, table.duration_us)
                .where(table.id > self.epp_after)
                .order_by(table.id)
                .limit(EPP_ROWS_PER_PROBE)
            ).all()
        if found:
            self.epp_after = int(found[-1][0])
        return [EppRow(str(c), int(code), int(us) / 1e6) for _, c, code, us in found]

    def close(self) -> None:
        for probe in {id(p): p for p in self.probes.values()}.values():
            probe.close()
