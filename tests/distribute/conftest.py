"""Signed zones for distribution tests: a small TLD zone signed with in-memory keys,
one serial at a time, and a running primary on loopback."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import dns.name
import pytest

from tldsec.clock import SystemClock
from tldsec.distribute.config import LOOPBACK, NotifySettings, Secondary, TsigKey
from tldsec.distribute.notify import Notifier, NotifyTarget
from tldsec.distribute.server import Access, PrimaryServer
from tldsec.distribute.store import ZoneStore
from tldsec.dnscore.zonefile import read_zone_text, write_zone_atomic
from tldsec.filedigest import digest_file, save_record
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.policy import Algorithm, load_policy
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.signer import sign_zone

ORIGIN = "example."
T = TypeVar("T")

APEX = """\
$ORIGIN {origin}
$TTL 86400
@ SOA a.nic hostmaster.nic {serial} 1800 900 1209600 3600
@ NS a.nic
@ NS b.nic
a.nic A 127.0.0.1
b.nic A 127.0.0.2
"""


@dataclass
class ZoneMaker:
    """Signs ``origin`` (``example.``) with a few delegations at the serial asked for."""

    store: MemoryKeyStore = field(
        default_factory=lambda: MemoryKeyStore(f"dist-test-{uuid.uuid4().hex}")
    )
    now: datetime = field(default_factory=lambda: SystemClock().now().replace(microsecond=0))
    config: SigningConfig | None = None
    origin: str = ORIGIN

    def __post_init__(self) -> None:
        ksk = self.store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=1024)
        zsk = self.store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
        keys = (
            ZoneKey(ksk.key_id, 257, ksk.algorithm, ksk.public_key, True, True, False),
            ZoneKey(zsk.key_id, 256, zsk.algorithm, zsk.public_key, True, False, True),
        )
        self.config = SigningConfig.from_policy(load_policy(), keys)

    def text(self, serial: int, domains: dict[str, str]) -> str:
        lines = [APEX.format(origin=self.origin, serial=serial)]
        for name, extra in sorted(domains.items()):
            lines.append(f"{name} NS ns1.hoster.net.\n")
            if extra:
                lines.append(f"{name} {extra}\n")
        return "".join(lines)

    def write(self, path: Path, serial: int, domains: dict[str, str]) -> Path:
        assert self.config is not None
        zone = read_zone_text(self.text(serial, domains), self.origin)
        signed = sign_zone(zone, self.config, self.store, self.now).zone
        write_zone_atomic(signed, path)
        return path


DS1 = "DS 12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE3AC2D9F6D8E8A0C04E2A85E1"
DS2 = "DS 54321 13 2 3490A6806D47F17A34C29E2CE80E8A999FFBE4BE" + "0" * 24
DOMAINS = {f"d{i}": (DS1 if i % 3 == 0 else "") for i in range(40)}


@pytest.fixture(scope="session")
def zones() -> ZoneMaker:
    return ZoneMaker()


def publish(store: ZoneStore, zones: ZoneMaker, serial: int, domains: dict[str, str]) -> None:
    """What a cycle does: stage a signed zone under its serial (with the digest the
    verification gate records), then commit."""
    with store.writer():
        path = zones.write(store.stage_path(serial), serial, domains)
        save_record(path, digest_file(path))
        store.commit(serial)


class LoopThread:
    """An asyncio loop in a background thread, for servers the tests talk to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrap() -> T:
            return fn()

        return self.run(wrap())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


TSIG = TsigKey("xfr-key.", "hmac-sha256", bytes(range(32)))


@dataclass
class Primary:
    server: PrimaryServer
    store: ZoneStore
    host: str
    port: int
    loop: LoopThread

    def refresh(self) -> bool:
        return self.loop.run(self.server.refresh())


def start_primary(
    loop: LoopThread,
    store: ZoneStore,
    *,
    secondaries: tuple[Secondary, ...] = (Secondary("loopback", LOOPBACK),),
    keys: tuple[TsigKey, ...] = (),
    targets: tuple[NotifyTarget, ...] = (),
    notify: NotifySettings | None = None,
) -> Primary:
    clock = SystemClock()
    notifier = (
        Notifier(dns.name.from_text(store.origin), targets, clock, notify or NotifySettings())
        if targets
        else None
    )
    server = PrimaryServer(store, Access(secondaries, keys), clock, notifier=notifier)
    host, port = loop.run(server.start("127.0.0.1", 0))
    loop.run(server.refresh())
    return Primary(server, store, host, port, loop)
