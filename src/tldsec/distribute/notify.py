"""NOTIFY (RFC 1996) to the secondaries after each new serial, retried, never blocking.

``Notifier.announce`` starts one task per target on the event loop and returns at once;
the task sends the NOTIFY over UDP (signed with the target's TSIG key when it has one)
and waits ``timeout`` for the answer, retrying with a doubling pause until it is
answered or ``attempts`` are spent (RFC 1996 3.6). A newer serial cancels the retries
still running for an older one: the secondary would ask for the newest anyway.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig

from tldsec.clock import Clock
from tldsec.distribute.config import DistributeSettings, NotifySettings
from tldsec.errors import DistributionError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NotifyTarget:
    """Where one secondary listens for NOTIFY, and the TSIG key to sign it with."""

    name: str
    host: str
    port: int
    key: dns.tsig.Key | None = None

    def __str__(self) -> str:
        return f"{self.name} ({self.host}:{self.port})"


def notify_targets(dist: DistributeSettings, origin: str) -> tuple[NotifyTarget, ...]:
    """Where NOTIFY for ``origin`` goes: each ``notify`` address of the secondaries that
    serve that zone (their ``zones``, decision 63), signed with the secondary's key."""
    return tuple(
        NotifyTarget(s.name, host, port, dist.key(s.tsig_key).dns_key() if s.tsig_key else None)
        for s in dist.secondaries
        if s.serves(origin)
        for host, port in s.notify
    )


@dataclass(slots=True)
class NotifyState:
    """What happened to the NOTIFY of one serial to one target."""

    target: str
    serial: int
    attempts: int = 0
    acknowledged: bool = False
    given_up: bool = False
    last_error: str | None = None
    last_attempt: datetime | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "serial": self.serial,
            "attempts": self.attempts,
            "acknowledged": self.acknowledged,
            "given_up": self.given_up,
            "last_error": self.last_error,
            "last_attempt": self.last_attempt.isoformat() if self.last_attempt else None,
        }


class _Answer(asyncio.DatagramProtocol):
    def __init__(self, waiter: asyncio.Future[bytes]) -> None:
        self.waiter = waiter

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if not self.waiter.done():
            self.waiter.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.waiter.done():
            self.waiter.set_exception(exc)


@dataclass
class Notifier:
    """Sends NOTIFY for the zone ``origin`` to ``targets``."""

    origin: dns.name.Name
    targets: tuple[NotifyTarget, ...]
    clock: Clock
    settings: NotifySettings = field(default_factory=NotifySettings)
    states: dict[str, NotifyState] = field(default_factory=dict)
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def announce(self, serial: int, soa: dns.rrset.RRset) -> None:
        """Notify every target of ``serial`` (call on the event loop; returns at once)."""
        for target in self.targets:
            key = str(target)
            old = self._tasks.pop(key, None)
            if old is not None and not old.done():
                old.cancel()
            state = NotifyState(target=key, serial=serial)
            self.states[key] = state
            task = asyncio.get_running_loop().create_task(self._notify(target, soa, state))
            self._tasks[key] = task

    async def wait(self) -> None:
        """Until every NOTIFY under way is answered or given up (for tests and shutdown)."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await self.wait()

    async def _notify(self, target: NotifyTarget, soa: dns.rrset.RRset, state: NotifyState) -> None:
        pause = self.settings.retry
        for attempt in range(1, self.settings.attempts + 1):
            state.attempts = attempt
            state.last_attempt = self.clock.now()
            try:
                await self._send_once(target, soa)
            except (OSError, TimeoutError, dns.exception.DNSException, DistributionError) as exc:
                state.last_error = str(exc) or type(exc).__name__
                log.warning(
                    "NOTIFY %s serial %s to %s: attempt %d of %d failed: %s",
                    self.origin,
                    state.serial,
                    target,
                    attempt,
                    self.settings.attempts,
                    state.last_error,
                )
                if attempt < self.settings.attempts:
                    await asyncio.sleep(pause)
                    pause *= 2
                continue
            state.acknowledged = True
            state.last_error = None
            log.info("NOTIFY %s serial %s acknowledged by %s", self.origin, state.serial, target)
            return
        state.given_up = True
        log.error(
            "NOTIFY %s serial %s to %s: no answer after %d attempts; the secondary will "
            "find the serial at its next SOA refresh",
            self.origin,
            state.serial,
            target,
            self.settings.attempts,
        )

    async def _send_once(self, target: NotifyTarget, soa: dns.rrset.RRset) -> None:
        # RFC 1996 3.7: opcode NOTIFY, AA set, the zone's SOA in the question and the
        # new SOA in the answer section as a hint.
        query = dns.message.make_query(self.origin, dns.rdatatype.SOA, dns.rdataclass.IN)
        query.flags = dns.flags.AA  # before the opcode: both live in the flags word
        query.set_opcode(dns.opcode.NOTIFY)
        query.answer.append(soa)
        if target.key is not None:
            query.use_tsig(target.key)
        wire = query.to_wire()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bytes] = loop.create_future()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Answer(waiter), remote_addr=(target.host, target.port)
        )
        try:
            transport.sendto(wire)
            async with asyncio.timeout(self.settings.timeout):
                data = await waiter
        finally:
            transport.close()
        keyring: dns.tsig.Key | bool = target.key if target.key is not None else False
        answer = dns.message.from_wire(data, keyring=keyring, request_mac=query.mac)
        if answer.id != query.id or answer.opcode() != dns.opcode.NOTIFY:
            raise DistributionError("the answer does not match the NOTIFY")
        if target.key is not None and not answer.had_tsig:
            raise DistributionError("the answer is not signed with the TSIG key")
        if answer.rcode() != dns.rcode.NOERROR:
            raise DistributionError(f"answered {dns.rcode.to_text(answer.rcode())}")
