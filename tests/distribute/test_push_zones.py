"""Pushes to a primary of two zones (decision 63): each zone is installed in its own
store behind its own fencing token, so a signer's token for one zone does not fence
out the other's; a push for a zone the primary does not serve is refused."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import dns.query
import dns.zone
import pytest

from tests.distribute.conftest import DOMAINS, DS2, LoopThread, ZoneMaker
from tests.distribute.pushing import identity, peer, publish_verified
from tldsec.clock import SystemClock
from tldsec.distribute.config import LOOPBACK, Secondary
from tldsec.distribute.push import client_context, offer_for, push_once
from tldsec.distribute.pushcert import PushIdentity
from tldsec.distribute.pushconfig import PushPeer, PushSettings
from tldsec.distribute.receive import PushReceiver, PushZone, Refusal, read_fence
from tldsec.distribute.server import Access, PrimaryServer
from tldsec.distribute.store import ZoneStore
from tldsec.errors import PushRefused


@dataclasses.dataclass
class TwoZones:
    signer: PushIdentity
    target: PushPeer
    server: PrimaryServer
    port: int
    served: dict[str, ZoneStore]  # the primary's stores
    signed: dict[str, ZoneStore]  # the signer's
    refusals: list[Refusal]

    def push(self, zone: str, serial: int, token: int) -> str:
        store = self.signed[zone]
        ctx = client_context(self.signer.cert, self.signer.key, self.target)
        return push_once(
            self.target, ctx, offer_for(store, serial, token), store.zone_path(serial), 10
        )

    def axfr_serial(self, zone: str) -> int:
        xfr = dns.query.xfr("127.0.0.1", zone, port=self.port, timeout=10)
        return int(dns.zone.from_xfr(xfr).get_soa().serial)


@pytest.fixture(scope="module")
def makers(zones: ZoneMaker) -> dict[str, ZoneMaker]:
    return {
        "example.": zones,
        "shop.": ZoneMaker(origin="shop."),
        "other.": ZoneMaker(origin="other."),
    }


@pytest.fixture
def world(
    tmp_path: Path, makers: dict[str, ZoneMaker], loop_thread: LoopThread
) -> Iterator[TwoZones]:
    certs = tmp_path / "certs"
    signer, me = identity(certs, "site-a"), identity(certs, "primary-1")
    served = {
        z: ZoneStore(tmp_path / "primary" / z.rstrip(".") / "dist", z, keep=4)
        for z in ("example.", "shop.")
    }
    server = PrimaryServer(
        tuple(served.values()), Access((Secondary("lo", LOOPBACK),), ()), SystemClock()
    )
    _, port = loop_thread.run(server.start("127.0.0.1", 0))
    settings = PushSettings(
        cert=me.cert,
        key=me.key,
        listen=("127.0.0.1", 0),
        timeout=10.0,
        retry=0.1,
        max_zone_bytes=1 << 30,
        primaries=(),
        signers=(peer(signer, "site-a"),),
    )

    def pushed(zone: str) -> PushZone:
        one = server.zone(zone)
        return PushZone(served[zone], lambda: server.refresh_zone(one), lambda: one.serial)

    example, shop = pushed("example."), pushed("shop.")
    refusals: list[Refusal] = []
    receiver = PushReceiver(
        settings,
        example.store,
        example.load,
        example.served,
        on_refused=refusals.append,
        others=(shop,),
    )
    address = loop_thread.run(receiver.start())
    signed = {z: ZoneStore(tmp_path / "signer" / z.rstrip("."), z, keep=4) for z in makers}
    for z, serial in (("example.", 100), ("shop.", 200), ("other.", 300)):
        publish_verified(signed[z], makers[z], serial, DOMAINS)
    try:
        yield TwoZones(
            signer, peer(me, "primary-1", address), server, port, served, signed, refusals
        )
    finally:
        loop_thread.run(receiver.close())
        loop_thread.run(server.close())


def test_each_zone_has_its_own_fence(world: TwoZones, makers: dict[str, ZoneMaker]) -> None:
    assert world.push("example.", 100, 5) == "pushed"
    # shop.'s signer holds an older token than example.'s: still its zone's newest.
    assert world.push("shop.", 200, 3) == "pushed"
    assert world.axfr_serial("example.") == 100 and world.axfr_serial("shop.") == 200
    assert read_fence(world.served["example."]).token == 5
    assert read_fence(world.served["shop."]).token == 3

    publish_verified(world.signed["shop."], makers["shop."], 201, {**DOMAINS, "d1": DS2})
    with pytest.raises(
        PushRefused, match="token 2 is older than token 3 already accepted for shop"
    ):
        world.push("shop.", 201, 2)
    assert world.axfr_serial("shop.") == 200
    assert world.push("shop.", 201, 4) == "pushed"  # 4 < example.'s 5: another zone's
    assert world.axfr_serial("shop.") == 201 and world.axfr_serial("example.") == 100
    assert read_fence(world.served["example."]).token == 5


def test_a_zone_the_primary_does_not_serve_is_refused(world: TwoZones) -> None:
    with pytest.raises(PushRefused, match=r"this primary serves example\., shop\., not other\."):
        world.push("other.", 300, 1)
    deadline = time.monotonic() + 30  # the primary's side may come after the signer's
    while not world.refusals and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [r.reason for r in world.refusals] == ["zone"]
    assert not (world.served["example."].directory / "push-fence.json").exists()
