"""One hidden primary serving two zones (decision 63): each zone its own store, its own
secondaries with their own TSIG key, NOTIFY per zone; a secondary asking for a zone it
is not configured for is refused, and real NSD secondaries take each its own zone."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig
import pytest

from tests.distribute.conftest import DOMAINS, DS2, LoopThread, ZoneMaker, publish
from tests.distribute.nameservers import NsdZone, free_port, nsd_available, running_nsd
from tldsec.clock import SystemClock
from tldsec.distribute.config import LOOPBACK, NotifySettings, Secondary, TsigKey
from tldsec.distribute.notify import Notifier, NotifyTarget
from tldsec.distribute.server import Access, PrimaryServer
from tldsec.distribute.store import ZoneStore

EXAMPLE_KEY = TsigKey("example-xfr.", "hmac-sha256", bytes(range(32)))
SHOP_KEY = TsigKey("shop-xfr.", "hmac-sha256", bytes(range(32, 64)))
SECONDARIES = (
    Secondary("ns-example", LOOPBACK, tsig_key=EXAMPLE_KEY.name, zones=frozenset({"example."})),
    Secondary("ns-shop", LOOPBACK, tsig_key=SHOP_KEY.name, zones=frozenset({"shop."})),
)


@pytest.fixture(scope="module")
def shop_zones() -> ZoneMaker:
    return ZoneMaker(origin="shop.")


def two_zone_primary(
    loop: LoopThread,
    stores: tuple[ZoneStore, ZoneStore],
    targets: dict[str, NotifyTarget] | None = None,
) -> tuple[PrimaryServer, int]:
    clock = SystemClock()
    notifiers = {
        origin: Notifier(dns.name.from_text(origin), (target,), clock, NotifySettings(1, 5, 0.2))
        for origin, target in (targets or {}).items()
    }
    server = PrimaryServer(
        stores, Access(SECONDARIES, (EXAMPLE_KEY, SHOP_KEY)), clock, notifier=notifiers
    )
    _, port = loop.run(server.start("127.0.0.1", 0))
    loop.run(server.refresh())
    return server, port


@pytest.fixture
def stores(zones: ZoneMaker, shop_zones: ZoneMaker, tmp_path: Path) -> tuple[ZoneStore, ZoneStore]:
    example = ZoneStore(tmp_path / "zones/example/dist", "example.", keep=3)
    shop = ZoneStore(tmp_path / "zones/shop/dist", "shop.", keep=3)
    publish(example, zones, 100, DOMAINS)
    publish(shop, shop_zones, 200, DOMAINS)
    return example, shop


@pytest.fixture
def primary(
    stores: tuple[ZoneStore, ZoneStore], loop_thread: LoopThread
) -> Iterator[tuple[PrimaryServer, int]]:
    server, port = two_zone_primary(loop_thread, stores)
    yield server, port
    loop_thread.run(server.close())


def ask(port: int, zone: str, rdtype: str, key: TsigKey | None) -> dns.message.Message:
    query = dns.message.make_query(zone, rdtype)
    if key is not None:
        query.use_tsig({key.dns_name(): key.dns_key()}, keyname=key.dns_name())
    return dns.query.tcp(query, "127.0.0.1", port=port, timeout=5)


def test_each_zone_is_served_to_its_own_secondary_with_its_own_key(
    primary: tuple[PrimaryServer, int],
) -> None:
    server, port = primary
    assert server.zone("example.").serial == 100 and server.zone("shop.").serial == 200
    soa = ask(port, "example.", "SOA", EXAMPLE_KEY)
    assert soa.rcode() == dns.rcode.NOERROR and soa.answer[0].name.to_text() == "example."
    assert soa.answer[0][0].serial == 100 and soa.had_tsig
    soa = ask(port, "shop.", "SOA", SHOP_KEY)
    assert soa.rcode() == dns.rcode.NOERROR and soa.answer[0].name.to_text() == "shop."
    assert soa.answer[0][0].serial == 200


@pytest.mark.parametrize(
    ("zone", "key"),
    [
        ("shop.", EXAMPLE_KEY),  # a secondary of example. asks for shop.
        ("example.", SHOP_KEY),  # and the other way round
        ("example.", None),  # unsigned: no secondary without a key
        ("other.", EXAMPLE_KEY),  # a zone this primary does not serve
    ],
)
@pytest.mark.parametrize("rdtype", ["SOA", "AXFR", "IXFR"])
def test_a_zone_the_secondary_is_not_configured_for_is_refused(
    primary: tuple[PrimaryServer, int],
    zone: str,
    key: TsigKey | None,
    rdtype: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """REFUSED for policy reasons (RFC 1035 4.1.1); the answer to a signed query is
    signed (RFC 8945 5.3), so the secondary knows the refusal is the primary's."""
    caplog.set_level(logging.WARNING, "tldsec.distribute")
    _, port = primary
    query = dns.message.make_query(zone, rdtype)
    if rdtype == "IXFR":
        query.authority.append(dns.rrset.from_text(zone, 0, "IN", "SOA", ". . 1 0 0 0 0"))
    if key is not None:
        query.use_tsig({key.dns_name(): key.dns_key()}, keyname=key.dns_name())
    answer = dns.query.tcp(query, "127.0.0.1", port=port, timeout=5)
    assert answer.rcode() == dns.rcode.REFUSED
    assert not answer.answer
    assert answer.had_tsig == (key is not None)
    if key is not None and zone != "other.":
        assert "is not configured for this zone" in caplog.text


@pytest.mark.skipif(not nsd_available(), reason="nsd is not installed")
def test_two_nsd_secondaries_take_each_its_zone_and_not_the_other(
    zones: ZoneMaker,
    shop_zones: ZoneMaker,
    stores: tuple[ZoneStore, ZoneStore],
    tmp_path: Path,
    loop_thread: LoopThread,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "tldsec.distribute")
    example, shop = stores
    port_example, port_shop = free_port(), free_port()
    server, port = two_zone_primary(
        loop_thread,
        stores,
        {
            "example.": NotifyTarget(
                "ns-example", "127.0.0.1", port_example, EXAMPLE_KEY.dns_key()
            ),
            "shop.": NotifyTarget("ns-shop", "127.0.0.1", port_shop, SHOP_KEY.dns_key()),
        },
    )
    primary = ("127.0.0.1", port)
    try:
        # ns-example also asks for shop. with its own key: the primary refuses it.
        with (
            running_nsd(
                tmp_path / "nsd-example",
                [
                    NsdZone("example.", primary, key=EXAMPLE_KEY),
                    NsdZone("shop.", primary, key=EXAMPLE_KEY),
                ],
                port_example,
            ) as ns_example,
            running_nsd(
                tmp_path / "nsd-shop", [NsdZone("shop.", primary, key=SHOP_KEY)], port_shop
            ) as ns_shop,
        ):
            ns_example.wait_serial("example.", 100)
            ns_shop.wait_serial("shop.", 200)

            # A new serial in each zone: NOTIFY goes to that zone's secondary only.
            publish(example, zones, 101, {**DOMAINS, "d1": DS2})
            publish(shop, shop_zones, 201, {**DOMAINS, "d2": DS2})
            assert loop_thread.run(server.refresh())
            ns_example.wait_serial("example.", 101)
            ns_shop.wait_serial("shop.", 201)

            deadline = time.monotonic() + 15
            while "is not configured for this zone" not in caplog.text:
                assert time.monotonic() < deadline, "ns-example never asked for shop."
                time.sleep(0.2)
            assert ns_example.serial("shop.") is None
            example_log, shop_log = ns_example.log_text(), ns_shop.log_text()
        assert "TSIG verified with key example-xfr." in example_log
        assert "TSIG verified with key shop-xfr." in shop_log
        assert "IXFR of example. serial 101 from 100 to 127.0.0.1 (ns-example, TSIG)" in caplog.text
        assert "IXFR of shop. serial 201 from 200 to 127.0.0.1 (ns-shop, TSIG)" in caplog.text
        assert "shop. from 127.0.0.1 (key example-xfr.): ns-example is not configured" in (
            caplog.text
        )
    finally:
        loop_thread.run(server.close())
