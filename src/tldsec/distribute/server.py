"""The hidden primary: SOA, AXFR and IXFR for its zones to an allow-list of secondaries.

It serves what the distribution store holds and nothing else (DPS 5.6: the signer
pushes into the store; the primary never reaches back into the signer). Over UDP and
TCP it answers:

* SOA queries for the zone's apex, authoritatively;
* AXFR over TCP (RFC 5936): SOA, every record, SOA, in as many messages as needed;
* IXFR (RFC 1995): the condensed differences from the client's serial when the store's
  history reaches back to it, the whole zone in AXFR form when it does not (RFC 1995
  4), a single SOA when the client is current or asked over UDP (RFC 1995 2);
* everything else: REFUSED (other names and types), NOTIMP (other opcodes).

It serves each zone it holds (decision 63): one store per zone, answered by the
query's zone name; a name that is none of its zones' apex is REFUSED.

A source address must be allowed by a configured secondary that serves the query's zone
(its ``zones``); a secondary with a TSIG key must sign its queries with that key (RFC
8945), and every answer to a signed query is signed. A query for a zone its secondary
does not serve is REFUSED (RFC 1035 4.1.1: refused for policy reasons), signed when the
query was (RFC 8945 5.3); NOTAUTH is only for TSIG errors (RFC 8945 5.2).
When a store's serial moves, the new version is loaded beside the old one (transfers in
progress finish on the version they started) and NOTIFY goes out to that zone's
secondaries.

A serial is loaded only if its zone file equals the digest recorded by the verification
gate (``ZoneSource.load``). One that does not is refused, an incident logged and shown
(``problem``, on the health endpoint), and the version served so far stays; at start,
the newest kept serial that checks out is served instead. A refused file is not read
again until it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig

from tldsec.clock import Clock, to_epoch
from tldsec.distribute.config import Secondary, TsigKey
from tldsec.distribute.ixfr import WireDiff
from tldsec.distribute.notify import Notifier
from tldsec.distribute.records import ZoneVersion
from tldsec.distribute.source import ZoneSource
from tldsec.distribute.store import ZoneStore, serial_gt
from tldsec.distribute.wire import (
    AA,
    MAX_MESSAGE,
    QR,
    TsigSigner,
    add_badtime_tsig,
    add_unsigned_tsig,
    transfer_messages,
)
from tldsec.errors import DigestMismatch, DistributionError, ZoneSyntaxError

log = logging.getLogger(__name__)

_TSIG_FAILURES = (
    dns.message.UnknownTSIGKey,
    dns.tsig.BadSignature,
    dns.tsig.BadTime,
    dns.tsig.BadKey,
    dns.tsig.BadAlgorithm,
)


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Bounds on what one client may cost the primary."""

    tcp_idle: float = 30.0  # seconds without a query before a TCP connection closes
    write_timeout: float = 120.0  # seconds for a client to take one message
    max_tcp: int = 64
    max_message: int = MAX_MESSAGE


class Access:
    """Who may ask: the secondaries' allowed sources, and the TSIG key each must use."""

    def __init__(self, secondaries: Iterable[Secondary], keys: Iterable[TsigKey]) -> None:
        self.secondaries = tuple(secondaries)
        self.keys = {k.name: k for k in keys}
        self.keyring: dict[dns.name.Name, dns.tsig.Key] = {
            k.dns_name(): k.dns_key() for k in self.keys.values()
        }

    def permit(
        self, address: str, keyname: dns.name.Name | None, origin: str | None = None
    ) -> Secondary | None:
        """The secondary that allows this source with this key for zone ``origin``
        (None: refuse)."""
        for secondary in self.secondaries:
            if origin is not None and not secondary.serves(origin):
                continue
            if not secondary.allows(address):
                continue
            if secondary.tsig_key is None:
                return secondary
            key = self.keys[secondary.tsig_key]
            if keyname is not None and keyname == key.dns_name():
                return secondary
        return None


@dataclass(frozen=True, slots=True)
class Transfer:
    """A zone transfer to send over TCP."""

    query: dns.message.Message
    version: ZoneVersion
    secondary: Secondary
    client_serial: int | None  # None: AXFR
    zone: ServedZone | None = None  # None: the server's first zone


class ServedZone:
    """One zone the primary serves: its store, the version served, its NOTIFY."""

    def __init__(
        self,
        store: ZoneStore,
        notifier: Notifier | None,
        on_refused: Callable[[str, int, str, int | None], None] | None,
    ) -> None:
        self.store = store
        self.origin = dns.name.from_text(store.origin)
        self.notifier = notifier
        self.on_refused = on_refused
        self.version: ZoneVersion | None = None
        self.problem: str | None = None  # a serial refused because its file is damaged
        self._refused: tuple[int, tuple[int, int, int]] | None = None
        self.source = ZoneSource(store)
        self.refresh_lock = asyncio.Lock()

    @property
    def serial(self) -> int | None:
        return None if self.version is None else self.version.serial


class PrimaryServer:
    """The hidden primary, serving each of its stores' current serial.

    ``store`` is one zone's store, or several zones' (one per origin); ``notifier`` the
    one zone's, or each zone's by origin. The attributes ``store``, ``version``,
    ``serial``, ``problem`` and ``notifier`` are the first zone's (a one-zone home's)."""

    def __init__(
        self,
        store: ZoneStore | Sequence[ZoneStore],
        access: Access,
        clock: Clock,
        *,
        notifier: Notifier | Mapping[str, Notifier] | None = None,
        limits: ServerLimits | None = None,
        on_refused: Callable[[str, int, str, int | None], None] | None = None,
    ) -> None:
        stores = (store,) if isinstance(store, ZoneStore) else tuple(store)
        if not stores:
            raise DistributionError("the primary needs at least one zone's store")
        # Told of each serial refused (its zone's origin, serial, why, serial served
        # instead): the caller records the incident (DPS 4.4.1, 4.5.1) naming the zone;
        # this module writes no audit log.
        self.zones: dict[dns.name.Name, ServedZone] = {}
        for one in stores:
            if isinstance(notifier, Notifier) or notifier is None:
                its = notifier if len(stores) == 1 else None
            else:
                its = notifier.get(one.origin)
            zone = ServedZone(one, its, on_refused)
            if zone.origin in self.zones:
                raise DistributionError(f"two stores for {zone.origin}: one store per zone")
            self.zones[zone.origin] = zone
        self.first = next(iter(self.zones.values()))
        self.access = access
        self.clock = clock
        self.limits = limits or ServerLimits()
        self.transfers = 0
        self._tcp_server: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._watcher: asyncio.Task[None] | None = None

    # --- the zones --------------------------------------------------------------------

    @property
    def store(self) -> ZoneStore:
        return self.first.store

    @property
    def origin(self) -> dns.name.Name:
        return self.first.origin

    @property
    def source(self) -> ZoneSource:
        return self.first.source

    @property
    def notifier(self) -> Notifier | None:
        return self.first.notifier

    @property
    def version(self) -> ZoneVersion | None:
        return self.first.version

    @property
    def serial(self) -> int | None:
        return self.first.serial

    @property
    def problem(self) -> str | None:
        """The first damaged serial refused, in any zone (None: every zone is well)."""
        return next((z.problem for z in self.zones.values() if z.problem), None)

    def zone(self, origin: str | dns.name.Name) -> ServedZone:
        """The zone served for ``origin``; ``KeyError`` when it is not one of them."""
        name = dns.name.from_text(origin) if isinstance(origin, str) else origin
        return self.zones[name]

    async def refresh(self) -> bool:
        """Load each store's current serial if it is newer than the one served; then
        NOTIFY that zone's secondaries. True if a new serial is being served."""
        moved = False
        for zone in self.zones.values():
            moved = await self.refresh_zone(zone) or moved
        return moved

    async def refresh_zone(self, zone: ServedZone) -> bool:
        """``refresh`` for one zone."""
        async with zone.refresh_lock:
            target = await asyncio.to_thread(zone.store.current)
            served = zone.version
            if target is None or (served is not None and not serial_gt(target, served.serial)):
                return False
            version = await asyncio.to_thread(self._load_checked, zone, served, target)
            if version is None:
                return False
            zone.version = version
        log.info(
            "primary: serving %s serial %s (%d records)", zone.origin, version.serial, len(version)
        )
        if zone.notifier is not None:
            zone.notifier.announce(version.serial, self.soa_rrset(version, zone.origin))
        return True

    def _load_checked(
        self, zone: ServedZone, served: ZoneVersion | None, target: int
    ) -> ZoneVersion | None:
        """``target`` if its file checks out; else None (the served version stays) or,
        with nothing served yet, the newest older serial that checks out."""
        stamp = _stamp(zone.store.zone_path(target))
        if zone._refused == (target, stamp):
            return None  # refused already and untouched since: not read again
        try:
            version = zone.source.load(served, target)
        except DigestMismatch as exc:
            zone._refused = (target, stamp)
            zone.problem = f"{zone.origin} serial {target} refused: {exc}"
            # DPS 4.5.1: published bytes that changed after verification are an incident.
            log.error(
                "INCIDENT primary: %s serial %s is not the zone the gate verified (%s); %s",
                zone.origin,
                target,
                exc,
                f"keeps serving serial {served.serial}" if served else "looking for an older one",
            )
            instead = served if served is not None else self._older_good(zone, target)
            if zone.on_refused is not None:
                zone.on_refused(
                    zone.origin.to_text(), target, str(exc), instead.serial if instead else None
                )
            return None if served is not None else instead
        zone._refused = None
        zone.problem = None
        return version

    def _older_good(self, zone: ServedZone, refused: int) -> ZoneVersion | None:
        for serial in zone.store.serials():
            if serial == refused or not serial_gt(refused, serial):
                continue
            try:
                version = zone.source.load(None, serial)
            except (DigestMismatch, ZoneSyntaxError, OSError, ValueError) as exc:
                log.error(
                    "primary: %s serial %s cannot be served either: %s", zone.origin, serial, exc
                )
                continue
            log.warning("primary: serving older serial %s until a good one is published", serial)
            return version
        return None

    async def watch(self, poll_seconds: float) -> None:
        """Look for a new serial in the store every ``poll_seconds`` until cancelled."""
        while True:
            try:
                await self.refresh()
            except (DistributionError, ZoneSyntaxError, OSError, ValueError) as exc:
                # The serial served so far stays; the next poll tries again.
                log.error("primary: cannot load the store's new serial: %s", exc)
            await asyncio.sleep(poll_seconds)

    def soa_rrset(
        self, version: ZoneVersion, origin: dns.name.Name | None = None
    ) -> dns.rrset.RRset:
        rd = version.soa_rdata
        ttl = int.from_bytes(version.soa[-len(rd) - 6 : -len(rd) - 2], "big")
        rdata = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.SOA, rd, 0, len(rd))
        return dns.rrset.from_rdata(origin or self.origin, ttl, rdata)

    # --- the network ----------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on UDP and TCP ``host:port`` (0: a free port, the same for both)."""
        loop = asyncio.get_running_loop()
        for _ in range(20):
            tcp = await asyncio.start_server(self._tcp_session, host, port, reuse_address=True)
            bound = tcp.sockets[0].getsockname()
            try:
                udp, _ = await loop.create_datagram_endpoint(
                    lambda: _Udp(self), local_addr=(host, bound[1])
                )
            except OSError:
                tcp.close()
                await tcp.wait_closed()
                if port:
                    raise
                continue
            self._tcp_server, self._udp = tcp, udp
            log.info(
                "primary for %s listening on %s port %s (UDP, TCP)",
                ", ".join(str(o) for o in self.zones),
                host,
                bound[1],
            )
            return str(bound[0]), int(bound[1])
        raise DistributionError(f"no free port for UDP and TCP on {host}")

    def start_watching(self, poll_seconds: float) -> None:
        self._watcher = asyncio.get_running_loop().create_task(self.watch(poll_seconds))

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._udp is not None:
            self._udp.close()
        if self._tcp_server is not None:
            self._tcp_server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._tcp_server is not None:
            await self._tcp_server.wait_closed()
        for zone in self.zones.values():
            if zone.notifier is not None:
                await zone.notifier.close()

    async def _tcp_session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= self.limits.max_tcp or task is None:
            writer.close()
            return
        self._connections.add(task)
        peer = writer.get_extra_info("peername") or ("?", 0)
        try:
            while True:
                try:
                    async with asyncio.timeout(self.limits.tcp_idle):
                        size = int.from_bytes(await reader.readexactly(2), "big")
                        data = await reader.readexactly(size)
                except (asyncio.IncompleteReadError, TimeoutError):
                    break
                reply = self.handle(data, str(peer[0]), tcp=True)
                if isinstance(reply, Transfer):
                    await self._send_transfer(writer, reply, str(peer[0]))
                elif reply is not None:
                    await self._write(writer, reply)
        except (ConnectionError, OSError, TimeoutError) as exc:
            log.debug("primary: TCP session with %s ended: %s", peer[0], exc)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _write(self, writer: asyncio.StreamWriter, message: bytes) -> None:
        writer.write(len(message).to_bytes(2, "big") + message)
        async with asyncio.timeout(self.limits.write_timeout):
            await writer.drain()

    async def _send_transfer(self, writer: asyncio.StreamWriter, t: Transfer, peer: str) -> None:
        version = t.version
        zone = t.zone or self.first
        records: Iterable[bytes] = version.axfr_records()
        kind = "AXFR"
        if t.client_serial is not None:
            diffs = await asyncio.to_thread(zone.source.ixfr, t.client_serial, version)
            if diffs is not None:
                records = _ixfr_records(version, diffs)
                kind = "IXFR"
            else:
                kind = "IXFR (as AXFR)"
        question = t.query.question[0]
        qwire = question.name.to_wire()
        assert qwire is not None
        qwire += struct.pack("!HH", question.rdtype, question.rdclass)
        signer = None
        if t.query.had_tsig and isinstance(t.query.keyring, dns.tsig.Key):
            signer = TsigSigner(t.query.keyring, t.query.mac or b"", t.query.id, self._now())
        count = 0
        for message in transfer_messages(
            t.query.id,
            qwire,
            records,
            flags=QR | AA | (t.query.flags & dns.flags.RD),
            signer=signer,
            max_size=self.limits.max_message,
        ):
            await self._write(writer, message)
            count += 1
        self.transfers += 1
        log.info(
            "primary: %s of %s serial %s%s to %s (%s%s) in %d messages",
            kind,
            zone.origin,
            version.serial,
            f" from {t.client_serial}" if t.client_serial is not None else "",
            peer,
            t.secondary.name,
            ", TSIG" if signer else "",
            count,
        )

    # --- answering ------------------------------------------------------------------

    def handle(self, wire: bytes, address: str, *, tcp: bool) -> bytes | Transfer | None:
        """The answer to one query: a message, a transfer (TCP), or None (drop)."""
        try:
            query = dns.message.from_wire(wire, keyring=self.access.keyring)
        except _TSIG_FAILURES as exc:
            return self._tsig_failure(wire, address, exc)
        except dns.message.ShortHeader:
            return None
        except dns.exception.DNSException as exc:
            log.debug("primary: malformed query from %s: %s", address, exc)
            return _formerr(wire)
        if query.flags & dns.flags.QR:
            return None
        if query.opcode() != dns.opcode.QUERY:
            return self._rcode(query, dns.rcode.NOTIMP)
        if len(query.question) != 1:
            return self._rcode(query, dns.rcode.FORMERR)
        q = query.question[0]
        zone = self.zones.get(q.name)
        keyname = query.keyname if query.had_tsig else None
        secondary = self.access.permit(
            address, keyname, None if zone is None else zone.origin.to_text()
        )
        if secondary is None:
            other = self.access.permit(address, keyname)  # allowed, but for other zones
            log.warning(
                "primary: refused %s %s from %s (%s)%s",
                dns.rdatatype.to_text(q.rdtype),
                q.name,
                address,
                f"key {query.keyname}" if query.had_tsig else "no TSIG",
                f": {other.name} is not configured for this zone ([[distribute.secondaries]] zones)"
                if other is not None
                else "",
            )
            return self._rcode(query, dns.rcode.REFUSED)
        if zone is None or q.rdclass != dns.rdataclass.IN:
            return self._rcode(query, dns.rcode.REFUSED)
        version = zone.version
        if version is None:
            return self._rcode(query, dns.rcode.SERVFAIL)  # nothing distributed yet
        if q.rdtype == dns.rdatatype.SOA:
            return self._soa(query, version)
        if q.rdtype == dns.rdatatype.AXFR:
            if not tcp:
                return self._rcode(query, dns.rcode.NOTIMP)  # RFC 5936 4.2: TCP only
            return Transfer(query, version, secondary, None, zone)
        if q.rdtype == dns.rdatatype.IXFR:
            client = _client_serial(query, zone.origin)
            if client is None:
                return self._rcode(query, dns.rcode.FORMERR)  # RFC 1995 3: SOA required
            if not tcp or not serial_gt(version.serial, client):
                # RFC 1995 2 and 4: current client, or UDP: one SOA, the client
                # then knows to stop, or to ask again over TCP.
                return self._soa(query, version)
            return Transfer(query, version, secondary, client, zone)
        return self._rcode(query, dns.rcode.REFUSED)

    def _now(self) -> int:
        return to_epoch(self.clock.now())

    def _rcode(self, query: dns.message.Message, rcode: dns.rcode.Rcode) -> bytes:
        response = dns.message.make_response(query)
        response.set_rcode(rcode)
        return response.to_wire()

    def _soa(self, query: dns.message.Message, version: ZoneVersion) -> bytes:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.answer.append(self.soa_rrset(version, query.question[0].name))
        return response.to_wire()

    def _tsig_failure(self, wire: bytes, address: str, exc: Exception) -> bytes | None:
        """NOTAUTH with the TSIG error (RFC 8945 5.2.1-5.2.3): unsigned for a bad key or
        MAC, signed for BADTIME, where the MAC was good (RFC 8945 5.3.2)."""
        try:
            query = dns.message.from_wire(wire, keyring=False)
        except dns.exception.DNSException:
            return None
        if query.keyname is None or query.keyalgorithm is None:
            return None
        key = self.access.keyring.get(query.keyname)
        if isinstance(exc, dns.tsig.BadTime) and key is not None and query.tsig:
            # dnspython checks the time only after the MAC (RFC 8945 5.2.2 before 5.2.3).
            request = query.tsig[0]
            log.warning(
                "primary: TSIG BADTIME from %s (key %s): its time %d, ours %d",
                address,
                query.keyname,
                request.time_signed,
                self._now(),
            )
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.NOTAUTH)
            return add_badtime_tsig(
                response.to_wire(),
                key,
                request.mac,
                request.time_signed,
                query.id,
                self._now(),
            )
        error = (
            dns.rcode.BADTIME
            if isinstance(exc, dns.tsig.BadTime)
            else dns.rcode.BADSIG
            if isinstance(exc, dns.tsig.BadSignature)
            else dns.rcode.BADKEY
        )
        log.warning(
            "primary: TSIG %s from %s (key %s)", dns.rcode.to_text(error), address, query.keyname
        )
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.NOTAUTH)
        return add_unsigned_tsig(
            response.to_wire(), query.keyname, query.keyalgorithm, self._now(), error
        )


def _stamp(path: Path) -> tuple[int, int, int]:
    """Inode, size and status-change time: whether a refused file was touched since."""
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0, 0)
    return (st.st_ino, st.st_size, st.st_ctime_ns)


def _client_serial(query: dns.message.Message, origin: dns.name.Name) -> int | None:
    for rrset in query.authority:
        if rrset.rdtype == dns.rdatatype.SOA and rrset.name == origin and len(rrset):
            return int(rrset[0].serial)
    return None


def _formerr(wire: bytes) -> bytes | None:
    if len(wire) < 12 or wire[2] & 0x80:
        return None
    flags = QR | (wire[2] & 0x79) << 8 | dns.rcode.FORMERR
    return wire[:2] + flags.to_bytes(2, "big") + b"\x00" * 8


def _ixfr_records(version: ZoneVersion, diffs: list[WireDiff]) -> Iterator[bytes]:
    """Current SOA, each difference sequence, current SOA (RFC 1995 4)."""
    yield version.soa
    for diff in diffs:
        yield from diff.records()
    yield version.soa


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: PrimaryServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        reply = self.server.handle(data, str(addr[0]), tcp=False)
        if isinstance(reply, bytes) and self.transport is not None:
            self.transport.sendto(reply, addr)


__all__ = ["Access", "PrimaryServer", "ServedZone", "ServerLimits", "Transfer"]
