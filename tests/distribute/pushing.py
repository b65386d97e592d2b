"""Certificates, stores and a running push listener for the push tests: real TLS on
loopback, a real primary serving what it receives."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from tests.distribute.conftest import LoopThread, Primary, ZoneMaker, publish, start_primary
from tldsec.distribute.pushcert import PushIdentity, fingerprint, new_certificate
from tldsec.distribute.pushconfig import PushPeer, PushSettings
from tldsec.distribute.receive import PushReceiver, Refusal
from tldsec.distribute.store import ZoneStore
from tldsec.filedigest import load_record
from tldsec.zonefiles import FORMAT, Verified, ZoneFiles, save_state


def identity(directory: Path, name: str) -> PushIdentity:
    return new_certificate(name, directory, datetime.now(UTC))


def peer(ident: PushIdentity, name: str, address: tuple[str, int] | None = None) -> PushPeer:
    return PushPeer(name, ident.cert, fingerprint(ident.cert), address)


def publish_verified(
    store: ZoneStore, zones: ZoneMaker, serial: int, domains: dict[str, str]
) -> None:
    """What a signer's cycle leaves: the zone, its digest record, the gate's record."""
    publish(store, zones, serial, domains)
    path = store.zone_path(serial)
    record = load_record(path)
    assert record is not None
    st = path.stat()
    state = Verified(
        path.name, st.st_size, st.st_ino, st.st_mtime_ns, serial, "full",
        "2024-03-01T12:00:00Z", "2024-03-01T12:00:00Z", 0, "test", True, record.sha256,
    )  # fmt: skip
    save_state(ZoneFiles(path).verify_state, state)
    assert FORMAT in ZoneFiles(path).verify_state.read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    """A primary with its push listener."""

    primary: Primary
    receiver: PushReceiver
    address: tuple[str, int]
    refusals: list[Refusal] = field(default_factory=list)  # what on_refused heard

    def refusal(self, reason: str, timeout: float = 30) -> Refusal:
        """The first refusal for ``reason``, waited for (the primary's side of a
        refusal may come after the signer's)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.refusals if r.reason == reason]
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no {reason!r} refusal: {self.refusals}")


def start_site(
    loop: LoopThread,
    directory: Path,
    me: PushIdentity,
    signers: tuple[PushPeer, ...],
    port: int = 0,
    **limits: float,
) -> Site:
    store = ZoneStore(directory, "example.", keep=4)
    primary = start_primary(loop, store)
    settings = PushSettings(
        cert=me.cert,
        key=me.key,
        listen=("127.0.0.1", port),
        timeout=10.0,
        retry=0.1,
        max_zone_bytes=1 << 30,
        primaries=(),
        signers=signers,
    )
    settings = replace(settings, **limits)  # type: ignore[arg-type]

    async def load() -> bool:
        return await primary.server.refresh()

    refusals: list[Refusal] = []
    receiver = PushReceiver(
        settings, store, load, lambda: primary.server.serial, on_refused=refusals.append
    )
    address = loop.run(receiver.start())
    return Site(primary, receiver, address, refusals)


def stop_site(loop: LoopThread, site: Site) -> None:
    loop.run(site.receiver.close())
    loop.run(site.primary.server.close())
