"""Pushing verified zones from a signer to a primary over mutually authenticated TLS
with pinned certificates (issue 20 item 1, decision 49): what arrives is served by AXFR;
an unpinned signer, bytes that differ from their digest, a verification record of
another zone and an older fencing token are refused, with the reason on both sides and
the served zone unchanged; a push is retried until the primary comes up."""

from __future__ import annotations

import dataclasses
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import dns.query
import dns.zone
import pytest

from tests.distribute.conftest import DOMAINS, DS2, LoopThread, ZoneMaker
from tests.distribute.pushing import (
    Site,
    free_port,
    identity,
    peer,
    publish_verified,
    start_site,
    stop_site,
)
from tldsec.distribute.push import Pusher, client_context, offer_for, push_once
from tldsec.distribute.pushcert import PushIdentity
from tldsec.distribute.pushconfig import PushPeer
from tldsec.distribute.receive import read_fence
from tldsec.distribute.store import ZoneStore
from tldsec.errors import PushRefused

NEXT = {**DOMAINS, "d1": DS2, "fresh": DS2}


@dataclasses.dataclass
class World:
    signer: PushIdentity
    primary_id: PushIdentity
    site: Site
    target: PushPeer  # the primary, as the signer pins it
    store: ZoneStore  # the signer's

    def push(self, serial: int, token: int, ident: PushIdentity | None = None) -> str:
        me = ident or self.signer
        offer = offer_for(self.store, serial, token)
        ctx = client_context(me.cert, me.key, self.target)
        return push_once(self.target, ctx, offer, self.store.zone_path(serial), 10)


@pytest.fixture
def world(tmp_path: Path, zones: ZoneMaker, loop_thread: LoopThread) -> Iterator[World]:
    certs = tmp_path / "certs"
    signer, primary_id = identity(certs, "site-a"), identity(certs, "primary-1")
    site = start_site(loop_thread, tmp_path / "primary", primary_id, (peer(signer, "site-a"),))
    store = ZoneStore(tmp_path / "signer", "example.", keep=4)
    publish_verified(store, zones, 100, DOMAINS)
    yield World(signer, primary_id, site, peer(primary_id, "primary-1", site.address), store)
    stop_site(loop_thread, site)


def axfr(site: Site) -> dns.zone.Zone:
    host, port = site.primary.host, site.primary.port
    return dns.zone.from_xfr(dns.query.xfr(host, "example.", port=port, timeout=10))


def test_a_pushed_zone_is_served_by_axfr_and_a_second_push_moves_it_on(
    world: World, zones: ZoneMaker
) -> None:
    assert world.site.primary.server.serial is None
    assert world.push(100, 1) == "pushed"
    served = axfr(world.site)
    assert served.get_soa().serial == 100
    mine = dns.zone.from_file(str(world.store.zone_path(100)), "example.", relativize=True)
    assert served == mine
    assert world.push(100, 1) == "had it"  # a retry after a lost answer: idempotent

    publish_verified(world.store, zones, 101, NEXT)
    assert world.push(101, 1) == "pushed"
    assert axfr(world.site).get_soa().serial == 101
    assert world.site.primary.store.diffs() == {100: 101}  # IXFR from 100 is possible
    assert read_fence(world.site.primary.store).token == 1


def test_an_unpinned_signer_is_refused_at_the_handshake(world: World, tmp_path: Path) -> None:
    rogue = identity(tmp_path / "rogue", "rogue")
    with pytest.raises(OSError, match=r"without an answer|CERTIFICATE|certificate"):
        world.push(100, 1, rogue)
    for _ in range(100):  # the primary's side of the refusal is logged as it closes
        if world.site.receiver.last_refusal:
            break
        time.sleep(0.05)
    assert "TLS handshake failed" in (world.site.receiver.last_refusal or "")
    refusal = world.site.refusal("tls")  # for the audit log: who, and why
    assert refusal.address == "127.0.0.1" and refusal.signer is None
    assert world.site.primary.server.serial is None
    assert world.site.primary.store.current() is None


def test_a_primary_with_another_certificate_is_not_pushed_to(world: World, tmp_path: Path) -> None:
    impostor = identity(tmp_path / "impostor", "primary-1")
    world.target = peer(impostor, "primary-1", world.site.address)  # not the one it has
    with pytest.raises(ssl.SSLError):
        world.push(100, 1)
    assert world.site.primary.store.current() is None


def _tampered(world: World, **changes: object) -> str:
    offer = dataclasses.replace(offer_for(world.store, 100, 1), **changes)  # type: ignore[arg-type]
    ctx = client_context(world.signer.cert, world.signer.key, world.target)
    return push_once(world.target, ctx, offer, world.store.zone_path(100), 10)


def test_bytes_that_differ_from_their_digest_are_refused(world: World) -> None:
    offer = offer_for(world.store, 100, 1)
    fake = "0" * 64  # the records agree with each other, the bytes do not
    with pytest.raises(PushRefused, match="bytes received have SHA-256"):
        _tampered(
            world,
            sha256=fake,
            digest={**offer.digest, "sha256": fake},
            verification={**offer.verification, "sha256": fake},
        )
    assert world.site.primary.store.current() is None
    assert "bytes received" in (world.site.receiver.last_refusal or "")
    refusal = world.site.refusal("sha256")
    assert (refusal.address, refusal.signer, refusal.serial) == ("127.0.0.1", "site-a", 100)
    assert not list((world.site.primary.store.directory / "incoming").iterdir())


def test_a_verification_record_of_another_zone_is_refused(world: World) -> None:
    offer = offer_for(world.store, 100, 1)
    with pytest.raises(PushRefused, match="verification record is of serial 99"):
        _tampered(world, verification={**offer.verification, "serial": 99})
    with pytest.raises(PushRefused, match="digest record does not describe"):
        _tampered(world, digest={**offer.digest, "size": offer.size + 1})
    assert world.site.primary.store.current() is None
    assert [r.reason for r in world.site.refusals] == ["records", "records"]


def test_an_older_fencing_token_is_refused(world: World, zones: ZoneMaker) -> None:
    assert world.push(100, 2) == "pushed"
    publish_verified(world.store, zones, 101, NEXT)
    with pytest.raises(PushRefused, match="fencing token 1 is older than token 2"):
        world.push(101, 1)
    assert axfr(world.site).get_soa().serial == 100
    assert "lost the publication lease" in (world.site.receiver.last_refusal or "")
    refusal = world.site.refusal("token")
    assert (refusal.address, refusal.signer, refusal.token) == ("127.0.0.1", "site-a", 1)
    assert world.push(101, 3) == "pushed"  # a newer holder moves the fence on
    assert read_fence(world.site.primary.store).token == 3


def test_an_older_serial_is_refused(world: World, zones: ZoneMaker) -> None:
    old = offer_for(world.store, 100, 1)
    publish_verified(world.store, zones, 101, NEXT)
    assert world.push(101, 1) == "pushed"
    ctx = client_context(world.signer.cert, world.signer.key, world.target)
    with pytest.raises(PushRefused, match="older than the served serial 101"):
        push_once(world.target, ctx, old, world.store.zone_path(100), 10)
    assert world.site.refusal("serial").serial == 100


def test_a_push_is_retried_until_the_primary_comes_up(
    tmp_path: Path, zones: ZoneMaker, loop_thread: LoopThread
) -> None:
    certs = tmp_path / "certs"
    signer, primary_id = identity(certs, "site-a"), identity(certs, "primary-1")
    store = ZoneStore(tmp_path / "signer", "example.", keep=4)
    publish_verified(store, zones, 100, DOMAINS)
    port = free_port()
    target = peer(primary_id, "primary-1", ("127.0.0.1", port))
    pusher = Pusher(store, (target,), signer.cert, signer.key, lambda: 1, timeout=5, retry=0.1)
    loop_thread.call(pusher.start)
    state = pusher.states["primary-1"]
    loop_thread.call(pusher.wake)
    for _ in range(200):
        if state.error is not None:
            break
        time.sleep(0.05)
    assert state.error is not None and "cannot reach 127.0.0.1 port" in state.error
    assert state.acked is None
    assert loop_thread.call(pusher.faults)  # /health names the primary behind

    site = start_site(
        loop_thread, tmp_path / "primary", primary_id, (peer(signer, "site-a"),), port
    )
    try:
        for _ in range(400):
            if state.acked == 100:
                break
            time.sleep(0.05)
        assert state.acked == 100 and state.error is None
        assert axfr(site).get_soa().serial == 100
        assert loop_thread.call(pusher.faults) == []
    finally:
        loop_thread.run(pusher.close())
        stop_site(loop_thread, site)
