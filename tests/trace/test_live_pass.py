"""The live pass (decision 51) on SQLite and PostgreSQL, against real NSD servers: a
registrar's DS change (the EPP hot path, ``ds_update``) built into serial 100 by the
cycle's trace writer is live only once every secondary answers serial 100 or later (RFC
1982); its poll message is queued once, for its registrar only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.distribute.nameservers import Daemon, NsdZone, nsd_available, start_nsd
from tests.fixtures.registry import START, RegistryWorld
from tldsec.cycle.trace import Included, record
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.ds_update import DsUpdate, update_ds
from tldsec.registry.hosts import create_host
from tldsec.registry.models import PollMessage, SerialTrace, Zone, ZoneChange
from tldsec.registry.poll import poll_request
from tldsec.trace.live import NODE_TTL, LiveTracker
from tldsec.trace.query import ChangeTrail, trace
from tldsec.trace.secondaries import Node

pytestmark = pytest.mark.skipif(not nsd_available(), reason="nsd is not installed")

DS = DsData.of(31337, 13, 2, "EF" * 32)


def nsd_at(directory: Path, serial: int) -> Daemon:
    """NSD serving ``example.`` from a file at ``serial``."""
    directory.mkdir(parents=True)
    zone = directory / "example.zone"
    zone.write_text(
        f"example. 3600 IN SOA ns.example. h.example. {serial} 1800 900 604800 300\n"
        "example. 3600 IN NS ns.example.\nns.example. 3600 IN A 192.0.2.1\n"
    )
    return start_nsd(directory / "nsd", [NsdZone("example.", zonefile=zone)])


def test_live_once_every_secondary_serves_the_serial(
    registry_world_any: RegistryWorld, tmp_path: Path
) -> None:
    world = registry_world_any
    world.add_registrar("alpha")
    world.add_registrar("beta")
    with world.db.write() as s:
        create_host(s, world.tx("alpha"), "ns1.hoster.net")
        create_domain(
            s, world.tx("alpha"), DomainCreate("one.example", "pw-1", ns=("ns1.hoster.net",))
        )
    tx = world.tx("alpha")
    with world.db.write() as s:
        assert update_ds(s, tx, DsUpdate("one.example", add=(DS,)))
    with world.db.read() as s:
        change = s.scalars(select(ZoneChange).where(ZoneChange.sv_trid == tx.sv_trid)).one()
    assert (change.cl_trid, change.registrar_id) == (None, world.actors["alpha"].registrar_id)

    t0 = world.clock.now()
    stages = [(st, t0 + timedelta(seconds=i)) for i, st in enumerate(
        ("built", "signed", "verified", "published"))]  # fmt: skip
    record(world.db, 1, 100, Included(after=0, upto=change.id), stages)

    a, b = nsd_at(tmp_path / "a", 100), nsd_at(tmp_path / "b", 99)
    try:
        nodes = (Node("ns-a", (("127.0.0.1", a.port),)), Node("ns-b", (("127.0.0.1", b.port),)))
        tracker = LiveTracker(world.db, "example.", 1, nodes, world.clock)
        world.clock.advance(timedelta(seconds=10))
        assert tracker.run_once() == []  # ns-b is behind
        b.stop()
        b = nsd_at(tmp_path / "b2", 101)  # a later serial holds serial 100's change
        tracker.nodes = (nodes[0], Node("ns-b", (("127.0.0.1", b.port),)))
        world.clock.advance(timedelta(seconds=5))
        (live,) = [c for c in tracker.run_once() if c.sv_trid == tx.sv_trid]
        assert tracker.run_once() == []  # once
    finally:
        a.stop()
        b.stop()
    assert live.serial == 100 and live.seconds == 15.0

    with world.db.read() as s:
        rows = {(r.stage, r.node) for r in s.scalars(select(SerialTrace))}
        queue = poll_request(s, world.tx("alpha"))
        other = poll_request(s, world.tx("beta"))
        texts = list(s.scalars(select(PollMessage.text).order_by(PollMessage.id)))
        (trail,) = trace(s, tx.sv_trid)
    assert {("served", "ns-a"), ("served", "ns-b"), ("live", "")} <= rows
    assert other.count == 0
    assert queue.count == 2  # the create's (it has name servers) and the DS change's
    assert texts[0].startswith("Change (domain-create) TEST-")
    assert any(
        t == f"DS change {tx.sv_trid} for one.example is live in serial 100, served by all "
        f"secondaries at {(t0 + timedelta(seconds=15)):%Y-%m-%dT%H:%M:%SZ}"
        for t in texts
    ), texts
    assert trail.to_served_seconds == 15.0
    assert [s.stage for s in trail.steps][-3:] == ["served", "served", "live"]


def test_live_waits_for_the_secondaries_of_every_primary(
    registry_world_any: RegistryWorld, tmp_path: Path
) -> None:
    """Two sites' primaries each ask their own secondary: serial 100 is live only once
    both secondaries serve it, whichever primary's pass sees the last one (decision 54);
    a secondary whose primary stopped registering it is not waited for after NODE_TTL."""
    world = registry_world_any
    t0 = world.clock.now()
    stages = [(st, t0) for st in ("built", "signed", "verified", "published")]
    record(world.db, 1, 100, Included(after=0, upto=0), stages)
    a, b = nsd_at(tmp_path / "a", 100), nsd_at(tmp_path / "b", 99)
    try:
        site_a = LiveTracker(
            world.db, "example.", 1, (Node("ns-a", (("127.0.0.1", a.port),)),), world.clock,
            primary="site-a",
        )  # fmt: skip
        site_b = LiveTracker(
            world.db, "example.", 1, (Node("ns-b", (("127.0.0.1", b.port),)),), world.clock,
            primary="site-b",
        )  # fmt: skip
        world.clock.advance(timedelta(seconds=1))
        site_b.run_once()  # registers ns-b, which is behind
        site_a.run_once()
        assert _live_serials(world) == set()  # ns-a serves 100, ns-b does not yet
        b.stop()
        b = nsd_at(tmp_path / "b2", 100)
        site_b.nodes = (Node("ns-b", (("127.0.0.1", b.port),)),)
        world.clock.advance(timedelta(seconds=4))
        site_b.run_once()
        site_a.run_once()  # both find it live: one row
        assert _live_serials(world) == {100}

        # Site B's primary is gone (no renewal): after NODE_TTL ns-b is not waited for.
        record(world.db, 1, 101, Included(after=0, upto=0), stages)
        a.stop()
        a = nsd_at(tmp_path / "a2", 101)
        site_a.nodes = (Node("ns-a", (("127.0.0.1", a.port),)),)
        world.clock.advance(timedelta(seconds=30))
        site_a.run_once()
        assert _live_serials(world) == {100}  # ns-b (at 100) registered half a minute ago
        world.clock.advance(NODE_TTL)
        site_a.run_once()
        assert _live_serials(world) == {100, 101}
    finally:
        a.stop()
        b.stop()


def _live_serials(world: RegistryWorld) -> set[int]:
    with world.db.read() as s:
        return set(s.scalars(select(SerialTrace.serial).where(SerialTrace.stage == "live")))


def nsd_zones(directory: Path, serials: dict[str, int]) -> Daemon:
    """NSD serving each origin of ``serials`` at its serial."""
    directory.mkdir(parents=True)
    zones = []
    for origin, serial in serials.items():
        zone = directory / f"{origin}zone"
        zone.write_text(
            f"{origin} 3600 IN SOA ns.{origin} h.{origin} {serial} 1800 900 604800 300\n"
            f"{origin} 3600 IN NS ns.{origin}\nns.{origin} 3600 IN A 192.0.2.1\n"
        )
        zones.append(NsdZone(origin, zonefile=zone))
    return start_nsd(directory / "nsd", zones)


def test_each_zone_tracks_its_own_serials_and_secondaries(
    registry_world_any: RegistryWorld, tmp_path: Path
) -> None:
    """Issue 19, decision 72: shop.'s larger serial does not make example.'s serial
    live, shop.'s pass queues no poll message for example.'s change, and shop. does not
    wait for a secondary registered for example. only (decision 63's ``zones``)."""
    world = registry_world_any
    world.add_registrar("alpha")
    with world.db.write() as s:
        rows = [Zone(origin=o, added_at=START) for o in ("example.", "shop.")]
        s.add_all(rows)
        s.flush()
        example, shop = rows[0].id, rows[1].id
        create_host(s, world.tx("alpha"), "ns1.hoster.net")
        create_domain(
            s, world.tx("alpha"), DomainCreate("one.example", "pw-1", ns=("ns1.hoster.net",))
        )
    tx = world.tx("alpha")
    with world.db.write() as s:
        assert update_ds(s, tx, DsUpdate("one.example", add=(DS,)))
    with world.db.read() as s:
        change = s.scalars(select(ZoneChange).where(ZoneChange.sv_trid == tx.sv_trid)).one()
    assert change.zone_id == example
    t0 = world.clock.now()
    stages = [(st, t0) for st in ("built", "signed", "verified", "published")]
    record(world.db, example, 100, Included(after=0, upto=change.id), stages)
    record(world.db, shop, 200, Included(after=change.id, upto=change.id), stages)

    a = nsd_zones(tmp_path / "a", {"example.": 99, "shop.": 200})
    b = nsd_zones(tmp_path / "b", {"example.": 99})
    try:
        ns_a, ns_b = Node("ns-a", (("127.0.0.1", a.port),)), Node("ns-b", (("127.0.0.1", b.port),))
        for_example = LiveTracker(world.db, "example.", example, (ns_a, ns_b), world.clock)
        for_shop = LiveTracker(world.db, "shop.", shop, (ns_a,), world.clock)
        world.clock.advance(timedelta(seconds=1))
        assert for_example.run_once() == []  # registers ns-a and ns-b for example.
        assert for_shop.run_once() == []  # shop.'s serial has no registrar change
        with world.db.read() as s:
            rows = {(r.zone_id, r.serial, r.stage, r.node) for r in s.scalars(
                select(SerialTrace).where(SerialTrace.stage.in_(("served", "live"))))}  # fmt: skip
            polls = s.scalars(select(PollMessage)).all()
        # shop. at 200 on ns-a, live without ns-b; example.'s 100 untouched by it.
        assert rows == {(shop, 200, "served", "ns-a"), (shop, 200, "live", "")}
        assert polls == []

        a.stop()
        b.stop()
        a = nsd_zones(tmp_path / "a2", {"example.": 100, "shop.": 200})
        b = nsd_zones(tmp_path / "b2", {"example.": 100})
        for_example.nodes = (
            Node("ns-a", (("127.0.0.1", a.port),)),
            Node("ns-b", (("127.0.0.1", b.port),)),
        )
        world.clock.advance(timedelta(seconds=5))
        (live,) = [c for c in for_example.run_once() if c.sv_trid == tx.sv_trid]
        assert live.serial == 100
        with world.db.read() as s:
            assert set(s.scalars(select(SerialTrace.zone_id).where(SerialTrace.serial == 100))) == {
                example
            }
        (trail,) = trace_of(world, tx.sv_trid)
        assert {st.serial for st in trail.steps if st.serial is not None} == {100}
    finally:
        a.stop()
        b.stop()


def trace_of(world: RegistryWorld, sv_trid: str) -> tuple[ChangeTrail, ...]:
    with world.db.read() as s:
        return trace(s, sv_trid)
