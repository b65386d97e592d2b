"""The two-site failover drill (decision 50), shared by tests/system/test_two_sites.py and
bench/failover_bench.py.

Site A and site B each run an EPP server (in this process, each with its own engine and
pool) on one registry held by a PostgreSQL pair: A's primary, B's synchronous standby,
both named in one libpq multi-host URL with ``target_session_attrs=read-write``
(tests/service/pgcluster.py). Registrars' sessions, half on each site's EPP, make DS
changes, each retried on 2400 until answered 1000; meanwhile A's whole PostgreSQL
(postmaster and every backend) is killed with SIGKILL and, after ``promote_after``
seconds (the operator's or the HA manager's decision), B's standby is promoted.

The signing half (``signing=True``, decision 53, tests/system/signing.py): each site's
signer is ``tldsec serve --role signer``, a process in a network namespace of its own,
with its own SoftHSM2 token holding the same keys; both push to two primaries, each
feeding an NSD secondary that an Unbound validates through the failover. A's signer is
killed (SIGKILL) with A's PostgreSQL; B's takes the lease, signs with its token and
pushes. Without it, each site's "signer" is a thread that takes the lease and builds the
zone (the database half alone). ``Drill.run`` returns what a test
checks and the bench prints.
"""

from __future__ import annotations

import contextlib
import gc
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from tests.fixtures.epp import PASSWORD, RunningServer, TlsFiles
from tests.fixtures.registry import RegistryWorld
from tests.service.pgcluster import PatroniPair, PgPair
from tests.system.signing import SigningSites, Watch, signing_sites
from tldsec.cycle.lease import LeaseTimes, PublicationLease
from tldsec.epp.client import EppClient
from tldsec.epp.server import ServerLimits
from tldsec.epp.tls import client_context
from tldsec.epp.tlscert import make_self_signed
from tldsec.policy import load_policy
from tldsec.registry import zonedigest
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.hosts import create_host
from tldsec.registry.models import Domain, DsRecord
from tldsec.settings import ApexSettings
from tldsec.zone.builder import BuiltZone, build_from_registry

APEX = ApexSettings(
    ns=("a.nic.example.",),
    glue=(("a.nic.example.", "192.0.2.53"),),
    soa_mname="a.nic.example.",
    soa_rname="hostmaster.example.",
)
# Site A's signer holds the lease until it dies; B's takes it once it expired (on the
# database's clock) and its renewals find a primary: short times keep the drill short.
LEASE = LeaseTimes(ttl=12.0, renew=3.0, margin=4.0)
KEEP = 3  # DS records a session keeps on its domain: it adds a new one, then drops the oldest


def ds(tag: int) -> DsData:
    return DsData.of(tag, 13, 2, f"{tag:064x}")


# Two registrars, so that each site's EPP sees at most 5 sessions of one (its limit is 8).
REGISTRARS = ("alpha", "beta")


def sponsor(index: int) -> str:
    """The registrar of session ``index`` and of its domain d<index>.example (sessions
    alternate between the sites, and on each site between the registrars)."""
    return REGISTRARS[(index // 2) % 2]


def open_world(pair: PgPair | PatroniPair, domains: int) -> RegistryWorld:
    """A migrated registry on the pair (through the multi-host URL), the ``REGISTRARS``
    and ``domains`` delegations d0.example ... (d<i> sponsored by ``sponsor(i)``)."""
    pair.createdb("registry")
    db = RegistryDatabase.from_url(pair.url("registry"), pool_pre_ping=False)
    try:
        db.upgrade(origin="example.")  # zone 1, as a home's `tldsec db upgrade` makes it
        world = RegistryWorld(db)
        for client_id in REGISTRARS:
            world.add_registrar(client_id, PASSWORD)
        with db.write() as s:
            for client_id in REGISTRARS:
                create_host(s, world.tx(client_id), f"ns1.{client_id}.net")
            for i in range(domains):
                client_id = sponsor(i)
                create = DomainCreate(f"d{i}.example", "a-1", ns=(f"ns1.{client_id}.net",))
                create_domain(s, world.tx(client_id), create)
    except BaseException:
        db.dispose()
        raise
    return world


@dataclass
class Change:
    """One DS change a session wants made: sent until answered 1000."""

    domain: str
    add: int | None
    remove: int | None
    first_sent: float
    last_sent: float = 0.0
    answers: list[int] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    acknowledged: float | None = None


@dataclass(frozen=True)
class Published:
    """A zone a site's signer built while holding the publication lease."""

    site: str
    token: int
    serial: int
    at: float


@dataclass
class Outcome:
    changes: list[Change]
    killed: float
    promoted: float
    first_write_on_b: float | None  # kill -> the first 1000 to a command sent after it
    first_zone_from_b: float | None  # kill -> B's signer, holding the lease, built a zone
    published: list[Published]  # every zone a signer built while it held the lease
    expected: dict[str, set[int]]  # per domain, the DS key tags the 1000s add up to
    found: dict[str, set[int]]  # per domain, what the promoted database holds
    zone_tags: dict[str, set[int]]  # per domain, the DS key tags of B's last zone
    ledger_differs: tuple[str, ...]
    session_errors: list[str]
    # The signing half (None without it):
    watch: Watch | None = None  # what the observers saw (secondaries, resolvers, primaries)
    served: dict[str, dict[str, set[int]]] | None = None  # per secondary, at the end
    all_served: float | None = None  # kill -> every change sent before it is served
    listening: dict[str, set[str]] | None = None  # per signer namespace: ``ss -ltnu``
    no_netns: str | None = None  # why the signers ran without namespaces
    signer_exits: dict[str, int | None] = field(default_factory=dict)

    def to_served(self) -> list[float]:
        """Per acknowledged change: its 1000 -> every secondary serves it, seconds."""
        if self.watch is None:
            return []
        found = []
        for c in self.changes:
            if c.acknowledged is not None and c.add is not None:
                at = self.watch.served_at(c.domain, c.add)
                if at is not None:
                    found.append(max(0.0, at - c.acknowledged))
        return sorted(found)

    def latencies(self) -> list[float]:
        """Per acknowledged change: first send to its 1000, seconds."""
        return sorted(c.acknowledged - c.first_sent for c in self.changes if c.acknowledged)

    def p95(self) -> float:
        values = self.latencies()
        return values[min(len(values) - 1, int(len(values) * 0.95))]


class Drill:
    def __init__(
        self,
        tmp: Path,
        *,
        sessions: int = 20,
        promote_after: float = 1.0,
        pair: Callable[[], PgPair | PatroniPair] = PgPair.create,
        signing: bool = False,
    ) -> None:
        """``pair`` makes the two sites' PostgreSQL: plain streaming replication, promoted
        by ``pg_ctl promote`` ``promote_after`` seconds after the kill, or Patroni, which
        promotes by itself (``promote_after`` 0)."""
        self.make_pair = pair
        self.tmp = tmp
        self.sessions = sessions
        self.promote_after = promote_after
        self.signing = signing
        tls = TlsFiles(tmp / "cert.pem", tmp / "key.pem")
        make_self_signed(tls.cert, tls.key, "localhost")
        self.tls = tls

    def run(self, *, before: float = 4.0, after: float = 8.0) -> Outcome:
        """Changes for ``before`` seconds, the kill, the promotion, changes until every
        session has made changes for ``after`` seconds on B, then the checks' data."""
        pair = self.make_pair()
        try:
            return self._run(pair, before, after)
        finally:
            pair.close()
            gc.collect()  # what the kill left unclosed warns now, in the drill's test

    def _run(self, pair: PgPair | PatroniPair, before: float, after: float) -> Outcome:
        world_a = open_world(pair, self.sessions)
        if self.signing:
            with signing_sites(
                self.tmp, pair.socket_url("registry"), self.sessions, pair.url("registry")
            ) as sites:
                sites.start()
                outcome = self._run_signing(pair, world_a, sites, before, after)
                outcome.signer_exits = sites.close()
            return outcome
        db_b = RegistryDatabase.from_url(pair.url("registry"), pool_pre_ping=False)
        world_b = RegistryWorld(db_b)
        limits = ServerLimits(workers=8, idle_timeout=300)
        with (
            _serving(world_a, self.tls, limits) as epp_a,
            _serving(world_b, self.tls, limits) as epp_b,
        ):
            for server in (epp_a, epp_b):
                server.dispatcher.settle_seconds = 60
            stop = threading.Event()
            changes: list[Change] = []
            errors: list[str] = []
            lock = threading.Lock()
            threads = _session_threads((epp_a, epp_b), self.sessions, stop, changes, errors, lock)
            published: list[Published] = []
            signer_a_killed, signers_stop = threading.Event(), threading.Event()
            signers = [
                threading.Thread(
                    target=_signer,
                    args=(site, world, (signers_stop, *extra), published, errors),
                    daemon=True,
                )
                for site, world, extra in (
                    ("A", world_a, (signer_a_killed,)),
                    ("B", world_b, ()),
                )
            ]
            for t in [*signers, *threads]:
                t.start()
            time.sleep(before)
            signer_a_killed.set()  # site A's signer dies with its database: no release
            killed = time.monotonic()  # after: A's last zone was built before this
            pair.primary.kill()
            dead = time.monotonic()
            time.sleep(self.promote_after)
            pair.standby.promote()
            promoted = time.monotonic()
            deadline = killed + 90
            while time.monotonic() < deadline and not any(
                p.site == "B" and p.at > killed for p in published
            ):
                time.sleep(0.2)
            time.sleep(after)
            stop.set()
            signers_stop.set()
            for t in [*threads, *signers]:
                t.join(120)
            errors.extend(f"{t.name} still running" for t in threads if t.is_alive())
            found, ledger = _state(db_b, self.sessions)
            zone_tags = _zone_tags(db_b, world_b)
        db_b.dispose()
        world_a.db.dispose()
        expected = _expected(changes, self.sessions)
        acked = [c for c in changes if c.acknowledged is not None]
        # The first change sent (its last attempt) once A was dead, then answered 1000.
        after_kill = [c.acknowledged for c in acked if c.acknowledged and c.last_sent > dead]
        return Outcome(
            changes=changes,
            killed=killed,
            promoted=promoted,
            first_write_on_b=min(after_kill) - killed if after_kill else None,
            first_zone_from_b=min(
                (p.at - killed for p in published if p.site == "B" and p.at > killed),
                default=None,
            ),
            published=sorted(published, key=lambda p: p.at),
            expected=expected,
            found=found,
            zone_tags=zone_tags,
            ledger_differs=ledger,
            session_errors=errors,
        )

    def _run_signing(
        self,
        pair: PgPair | PatroniPair,
        world_a: RegistryWorld,
        sites: SigningSites,
        before: float,
        after: float,
    ) -> Outcome:
        """The drill with the signing half: the signers are ``sites``' processes, and
        what reaches the secondaries is watched from before the kill to the end."""
        db_b = RegistryDatabase.from_url(pair.url("registry"), pool_pre_ping=False)
        world_b = RegistryWorld(db_b)
        limits = ServerLimits(workers=8, idle_timeout=300)
        listening: dict[str, set[str]] = {}
        with (
            _serving(world_a, self.tls, limits) as epp_a,
            _serving(world_b, self.tls, limits) as epp_b,
        ):
            for server in (epp_a, epp_b):
                server.dispatcher.settle_seconds = 60
            stop = threading.Event()
            changes: list[Change] = []
            errors: list[str] = []
            lock = threading.Lock()
            threads = _session_threads((epp_a, epp_b), self.sessions, stop, changes, errors, lock)
            sites.watch()
            for t in threads:
                t.start()
            time.sleep(before)
            if (seen := sites.listening("a")) is not None:
                listening["a"] = seen
            killed = time.monotonic()
            sites.kill_a()  # site A is lost: its signer and its database at once
            pair.primary.kill()
            dead = time.monotonic()
            time.sleep(self.promote_after)
            pair.standby.promote()
            promoted = time.monotonic()
            watched = sites.watched
            sites.wait(lambda: any(p.site == "B" for p in watched.published), "B's first push", 120)
            if (seen := sites.listening("b")) is not None:
                listening["b"] = seen
            time.sleep(after)
            stop.set()
            for t in threads:
                t.join(120)
            errors.extend(f"{t.name} still running" for t in threads if t.is_alive())
            expected = _expected(changes, self.sessions)
            # Every acknowledged change reaches every secondary: B's signer runs its
            # cycles on, and the secondaries end serving exactly what the 1000s add up to.
            with contextlib.suppress(AssertionError):
                sites.wait(
                    lambda: all(sites.served_ds(s) == expected for s in sites.nsds),
                    "the secondaries serving every acknowledged change",
                    90,
                )
            served = {s: sites.served_ds(s) for s in sites.nsds}
            sites.stop_watching()
            found, ledger = _state(db_b, self.sessions)
        db_b.dispose()
        world_a.db.dispose()
        acked = [c for c in changes if c.acknowledged is not None]
        after_kill = [c.acknowledged for c in acked if c.acknowledged and c.last_sent > dead]
        at_kill = [c for c in acked if c.first_sent <= killed and c.add is not None]
        times = [watched.served_at(c.domain, c.add) for c in at_kill if c.add is not None]
        from_b = [p.at - killed for p in watched.published if p.site == "B"]
        return Outcome(
            changes=changes,
            killed=killed,
            promoted=promoted,
            first_write_on_b=min(after_kill) - killed if after_kill else None,
            first_zone_from_b=min(from_b, default=None),
            published=[
                Published(p.site, p.token, p.serial, p.at)
                for p in sorted(watched.published, key=lambda p: p.at)
                if p.primary == "a"
            ],
            expected=expected,
            found=found,
            zone_tags={},
            ledger_differs=ledger,
            session_errors=errors,
            watch=watched,
            served=served,
            all_served=(
                max(t for t in times if t is not None) - killed
                if times and None not in times
                else None
            ),
            listening=listening if sites.why_no_netns is None else None,
            no_netns=sites.why_no_netns,
        )


def _expected(changes: list[Change], sessions: int) -> dict[str, set[int]]:
    """Per domain, the DS key tags the 1000s add up to, in the order they were answered."""
    expected: dict[str, set[int]] = {f"d{i}.example": set() for i in range(sessions)}
    acked = [c for c in changes if c.acknowledged is not None]
    for change in sorted(acked, key=lambda c: c.acknowledged or 0):
        if change.remove is not None:
            expected[change.domain].discard(change.remove)
        if change.add is not None:
            expected[change.domain].add(change.add)
    return expected


@contextmanager
def _serving(world: RegistryWorld, tls: TlsFiles, limits: ServerLimits) -> Iterator[RunningServer]:
    server = RunningServer(world, tls, limits)
    try:
        yield server
    finally:
        server.stop()


def _session(
    server: RunningServer,
    domain: str,
    index: int,
    stop: threading.Event,
    changes: list[Change],
    errors: list[str],
    lock: threading.Lock,
) -> None:
    """One registrar session: DS changes on its own domain, each sent until 1000 (a 2400
    is retried after a pause; a lost EPP connection is reopened and logged in again)."""
    held: list[int] = []  # what the 1000s so far leave on the domain
    serial = 0
    client: EppClient | None = None
    try:
        while not stop.is_set():
            serial += 1
            tag = index * 1000 + serial
            remove = held[0] if len(held) >= KEEP else None
            change = Change(domain, tag, remove, time.monotonic())
            with lock:
                changes.append(change)
            while change.acknowledged is None:
                try:
                    if client is None:
                        client = _login(server, sponsor(index))
                    change.last_sent = time.monotonic()
                    response = client.domain_update_ds(
                        domain, add=(ds(tag),), remove=() if remove is None else (ds(remove),)
                    )
                except (TimeoutError, OSError, ssl.SSLError) as exc:
                    change.messages.append(f"EPP connection: {exc}")
                    client = None
                    time.sleep(0.2)
                    continue
                change.answers.append(response.code)
                if response.code == 1000:
                    change.acknowledged = time.monotonic()
                    break
                change.messages.append(response.message)
                if stop.is_set() and time.monotonic() > change.first_sent + 90:
                    return
                time.sleep(0.2)
            if remove is not None:
                held.remove(remove)
            held.append(tag)
    except Exception as exc:  # reported by the test, not lost in a thread
        errors.append(f"{domain}: {type(exc).__name__}: {exc}")
    finally:
        if client is not None:
            client.close()


def _session_threads(
    sites: tuple[RunningServer, RunningServer],
    sessions: int,
    stop: threading.Event,
    changes: list[Change],
    errors: list[str],
    lock: threading.Lock,
) -> list[threading.Thread]:
    """One registrar session per domain ``d{i}.example``, alternately on site A's and
    site B's EPP server (not started)."""
    return [
        threading.Thread(
            target=_session,
            args=(sites[i % 2], f"d{i}.example", i, stop, changes, errors, lock),
            daemon=True,
        )
        for i in range(sessions)
    ]


def _login(server: RunningServer, client_id: str) -> EppClient:
    client = EppClient(server.host, server.port, client_context(server.tls.cert), timeout=120)
    client.connect()
    response = client.login(client_id, PASSWORD)
    if response.code != 1000:
        client.close()
        raise OSError(f"login answered {response.code}: {response.message}")
    return client


def _zone(db: RegistryDatabase, world: RegistryWorld) -> BuiltZone:
    zone, _ = build_from_registry(
        db,
        zone_id=1,
        origin="example.",
        apex=APEX,
        ttl=load_policy().ttl,
        rules=world.rules,
        clock=world.clock,
    )
    return zone


def _signer(
    site: str,
    world: RegistryWorld,
    stops: tuple[threading.Event, ...],
    published: list[Published],
    errors: list[str],
) -> None:
    """A site's signer: takes or renews the publication lease every ``LEASE.renew``
    seconds and, while it holds it, builds the zone from the registry (signing and the
    push to the primaries are not in this drill). Ends without releasing the lease when
    any of ``stops`` is set (site A's is its death)."""
    lease = PublicationLease(world.db.engine, f"site-{site}", LEASE, origin="example.")
    try:
        while not any(e.is_set() for e in stops):
            with contextlib.suppress(Exception):  # the database away: the deadline runs on
                lease.try_acquire()
            if lease.held() is not None:
                try:
                    zone = _zone(world.db, world)
                except Exception:
                    zone = None
                holding = lease.held()  # still ours once built: publish
                at = time.monotonic()  # before the check: a publication precedes a death
                if zone is not None and holding is not None and not any(e.is_set() for e in stops):
                    published.append(Published(site, holding.token, zone.serial, at))
            stops[0].wait(0.5 if lease.held() is None else LEASE.renew)
    except Exception as exc:
        errors.append(f"signer {site}: {type(exc).__name__}: {exc}")


def _state(db: RegistryDatabase, sessions: int) -> tuple[dict[str, set[int]], tuple[str, ...]]:
    found: dict[str, set[int]] = {}
    with db.read() as s:
        for i in range(sessions):
            name = f"d{i}.example"
            domain_id = s.scalar(select(Domain.id).where(Domain.name == name))
            query = select(DsRecord.key_tag).where(DsRecord.domain_id == domain_id)
            found[name] = set(s.scalars(query))
        return found, zonedigest.differing(s, zone=(1, "example."))


def _zone_tags(db: RegistryDatabase, world: RegistryWorld) -> dict[str, set[int]]:
    tags: dict[str, set[int]] = {}
    for line in (r.line() for r in _zone(db, world).records):
        owner, _ttl, _cls, rtype, *rdata = line.split()
        if rtype == "DS":
            tags.setdefault(owner.rstrip("."), set()).add(int(rdata[0]))
    return tags
