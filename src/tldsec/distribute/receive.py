"""The primary's push listener (issue 20 item 1, DPS 5.6): it accepts zones only from
the signers whose certificates it pins, and installs one only after checking it.

For each push (``push.py`` describes the exchange), in order:

1. TLS 1.2 or later, a client certificate required; only the pinned signers'
   certificates are trusted, and the one presented must have a pinned fingerprint;
2. the header: the zone is one of ours; the fencing token is not older than the newest
   one accepted for that zone (``push-fence.json`` in the zone's store, written before
   the zone is committed), so a signer that lost the lease cannot overwrite its
   successor's zone; the serial is newer than the one served (or the same bytes again:
   "have");
3. the bytes: their SHA-256 (computed as they arrive) equals the header's, the digest
   record's and the verification record's, and the verification record names this
   serial; when the zone was patched from the serial served here, only the edits' new
   bytes travel and the rebuilt file must hash the same (``pushpatch.py``; else the
   whole file is asked for);
4. installed through the store (``ZoneStore``: digest record, ``verify-state.json``,
   ``commit`` with its IXFR difference, the ``current`` pointer last), loaded by the
   primary (which checks the file against its digest once more), NOTIFY sent;
5. acknowledged. Any refusal is one line on both sides, and the zone served stays.

Before any of it, the listener bounds what an unauthenticated peer can hold: at most
``[push] max_connections`` connections at once, and ``max_connections_per_address``
from one address (a connection over either is closed at once, before TLS), and each
must complete its TLS handshake and send its header line within ``handshake_seconds``
of connecting (the per-read ``timeout_seconds`` then applies to the bytes). Every
refusal, these included, is handed to ``on_refused`` as a ``Refusal`` (the peer's
address, a reason word, the message): serve writes it to the audit log
(``zone.push_refused``, ``service/pushaudit.py``).

A primary of several zones (decision 63) receives for each of them: one ``PushZone``
(store, load, served) per origin, each with its own fence and its own install lock, so
one zone's push neither waits for nor fences out another zone's. A push for a zone it
does not serve is refused ("zone") before any byte is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tldsec.atomicfile import fsync_directory, replacing
from tldsec.distribute.push import MAX_LINE, Offer, server_context
from tldsec.distribute.pushcert import fingerprint_der
from tldsec.distribute.pushconfig import PushSettings
from tldsec.distribute.pushpatch import patch_of, rebuild
from tldsec.distribute.store import ZoneStore, serial_gt
from tldsec.dnscore.zonepatch import ZonePatch, ZonePatchError
from tldsec.errors import DistributionError, PushRefused
from tldsec.filedigest import Digester, FileDigest, load_record, save_record
from tldsec.zonefiles import ZoneFiles

log = logging.getLogger("tldsec.push")

FENCE = "push-fence.json"
INCOMING = "incoming"
CHUNK = 1 << 20


# The reason words of ``Refusal`` (the audit entry's ``reason``).
OVER_CAP = "over-cap"  # more connections than [push] max_connections(_per_address)
DEADLINE = "deadline"  # no TLS handshake and header within [push] handshake_seconds
TLS = "tls"  # the TLS handshake failed: not a pinned signer's certificate, or no TLS
UNPINNED = "unpinned-certificate"  # a certificate the handshake let in, not pinned
HEADER = "header"  # no header line, or one that does not parse


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused push: where from, why (a reason word: the constants above, or a
    ``PushRefused.reason`` such as ``token``, ``serial``, ``records``, ``sha256``) and
    the message logged; the signer, serial and token once the push got that far."""

    address: str
    port: int
    reason: str
    message: str
    signer: str | None = None
    serial: int | None = None
    token: int | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "peer": self.address,
            "port": self.port,
            "reason": self.reason,
            "error": self.message,
            "signer": self.signer,
            "serial": self.serial,
            "token": self.token,
        }


@dataclass(frozen=True, slots=True)
class Fence:
    """The newest fencing token accepted, from which signer, at which serial."""

    token: int = 0
    signer: str = ""
    serial: int | None = None


def read_fence(store: ZoneStore) -> Fence:
    try:
        body = json.loads((store.directory / FENCE).read_text("utf-8"))
        return Fence(int(body["token"]), str(body["signer"]), body.get("serial"))
    except FileNotFoundError:
        return Fence()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # Fail closed: without the fence, an old signer could be let in.
        raise DistributionError(
            f"cannot read {store.directory / FENCE}: {exc}; restore it or write the newest "
            "token from 'tldsec status' of the signer"
        ) from exc


def write_fence(store: ZoneStore, fence: Fence) -> None:
    with replacing(store.directory / FENCE, "w", encoding="utf-8") as out:
        json.dump({"token": fence.token, "signer": fence.signer, "serial": fence.serial}, out)
    fsync_directory(store.directory)


@dataclass
class PushZone:
    """One zone the listener receives for: its store; ``load`` makes the primary serve
    the store's new serial (True if it did); ``served``, the serial it serves."""

    store: ZoneStore
    load: Callable[[], Awaitable[bool]]
    served: Callable[[], int | None]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one install at a time


@dataclass
class PushReceiver:
    """The listener for the zone of ``store`` (``load``, ``served``: ``PushZone``), and
    for each of ``others``; ``on_refused`` hears of every refusal."""

    push: PushSettings
    store: ZoneStore
    load: Callable[[], Awaitable[bool]]
    served: Callable[[], int | None]
    on_refused: Callable[[Refusal], None] | None = None  # serve: the audit log
    others: tuple[PushZone, ...] = ()  # the primary's other zones (decision 63)
    accepted: int = 0
    refused: int = 0
    last_refusal: str | None = None
    _active: Counter[str] = field(default_factory=Counter)  # connections per address
    _server: asyncio.Server | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _pins: dict[str, str] = field(default_factory=dict)
    _ssl: ssl.SSLContext | None = None
    _zones: dict[str, PushZone] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for zone in (PushZone(self.store, self.load, self.served, self._lock), *self.others):
            if zone.store.origin in self._zones:
                raise DistributionError(f"two push stores for {zone.store.origin}")
            self._zones[zone.store.origin] = zone

    def zone(self, offer: Offer) -> PushZone:
        """The zone the offer is for; ``PushRefused`` ("zone") when it is none of ours."""
        found = self._zones.get(offer.zone)
        if found is None:
            raise PushRefused(
                f"this primary serves {', '.join(self._zones)}, not {offer.zone}", "zone"
            )
        return found

    async def start(self) -> tuple[str, int]:
        if not self.push.signers:
            raise DistributionError(
                "the primary accepts pushes only from pinned signers: [[push.signers]] is empty"
            )
        self._ssl = server_context(self.push.cert, self.push.key, self.push.signers)
        self._pins = {p.sha256: p.name for p in self.push.signers}
        host, port = self.push.listen
        try:
            self._server = await asyncio.start_server(self._handle, host, port, limit=MAX_LINE)
        except OSError as exc:
            raise DistributionError(
                f"cannot listen for pushes on {host} port {port} ([push] listen): "
                f"{exc.strerror or exc}"
            ) from exc
        address = self._server.sockets[0].getsockname()
        return address[0], address[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address, port = (str(peer[0]), int(peer[1])) if peer else ("?", 0)
        push = self.push
        if (
            sum(self._active.values()) >= push.max_connections
            or self._active[address] >= push.max_connections_per_address
        ):
            # Closed before TLS: a peer that holds connections open holds no more.
            self._refused(
                Refusal(
                    address,
                    port,
                    OVER_CAP,
                    f"push from {address} port {port} refused: {sum(self._active.values())} "
                    f"connections open, {self._active[address]} from {address} ([push] "
                    f"max_connections = {push.max_connections}, max_connections_per_address "
                    f"= {push.max_connections_per_address})",
                )
            )
            writer.close()
            return
        self._active[address] += 1
        try:
            await self._session(reader, writer, address, port)
        finally:
            self._active[address] -= 1
            if not self._active[address]:
                del self._active[address]
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str, port: int
    ) -> None:
        where = f"{address} port {port}"
        handshake = self.push.handshake
        deadline = asyncio.get_running_loop().time() + handshake
        try:
            assert self._ssl is not None
            try:
                async with asyncio.timeout_at(deadline):
                    await writer.start_tls(self._ssl)
            except TimeoutError:
                self._refused(
                    Refusal(
                        address,
                        port,
                        DEADLINE,
                        f"push from {where} refused: no TLS handshake within [push] "
                        f"handshake_seconds = {handshake:g}",
                    )
                )
                return
            except (ssl.SSLEOFError, ConnectionError) as exc:
                # Gone before the handshake ended (a port check, a signer that gave up):
                # nothing was refused.
                log.warning("push connection from %s closed before TLS: %r", where, exc)
                return
            except (ssl.SSLError, OSError) as exc:
                reason = getattr(exc, "reason", None) or exc
                self._refused(
                    Refusal(
                        address,
                        port,
                        TLS,
                        f"push from {where} refused: TLS handshake failed ({reason}): its "
                        "certificate is not one of [[push.signers]]",
                    )
                )
                return
            tls = writer.get_extra_info("ssl_object")
            fp = fingerprint_der(tls.getpeercert(binary_form=True) or b"")
            signer = self._pins.get(fp)
            if signer is None:
                message = f"from {where}: certificate {fp} is not pinned"
                await self._refuse(writer, Refusal(address, port, UNPINNED, f"push {message}"))
                return
            offer: Offer | None = None
            try:
                offer = await self._header(reader, deadline)
                await self._exchange(reader, writer, offer, signer, where)
            except DistributionError as exc:  # PushRefused, or the store said no
                why = exc.reason if isinstance(exc, PushRefused) else "store"
                await self._refuse(
                    writer,
                    Refusal(
                        address,
                        port,
                        why,
                        f"push from signer {signer} ({where}): {exc}",
                        signer,
                        offer.serial if offer else None,
                        offer.token if offer else None,
                    ),
                    str(exc),
                )
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            log.warning("push from %s broke off: %s", where, exc or type(exc).__name__)

    async def _header(self, reader: asyncio.StreamReader, deadline: float) -> Offer:
        """The header line, by the handshake deadline; ``PushRefused`` without one."""
        try:
            async with asyncio.timeout_at(deadline):
                line = await reader.readuntil(b"\n")
        except TimeoutError:
            raise PushRefused(
                f"no header line within [push] handshake_seconds = {self.push.handshake:g} "
                "of connecting",
                DEADLINE,
            ) from None
        except asyncio.LimitOverrunError:
            raise PushRefused(f"a header line longer than {MAX_LINE} bytes", HEADER) from None
        except asyncio.IncompleteReadError:
            raise PushRefused("the connection ended before its header line", HEADER) from None
        try:
            return Offer.parse(line)
        except (ValueError, KeyError, TypeError) as exc:
            raise PushRefused(f"the header does not parse: {exc}", HEADER) from exc

    async def _exchange(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        offer: Offer,
        signer: str,
        where: str,
    ) -> None:
        zone = self.zone(offer)
        async with zone.lock:  # one push installs at a time in each zone
            have = await asyncio.to_thread(self._admit, offer)
            if have:
                await _send(writer, {"ok": True, "have": True})
                return
            patch = await asyncio.to_thread(self._patch_from_current, offer)
            tmp: Path | None = None
            if patch is not None:
                await _send(writer, {"ok": True, "send": "patch"})
                tmp = await self._receive_patch(reader, offer, patch)
            rebuilt = tmp is not None
            if tmp is None:
                # the whole file: no patch offered or usable, or its result hashed wrong
                await _send(writer, {"ok": True, "send": True})
                tmp = await self._receive(reader, offer)
            try:
                await asyncio.to_thread(self._install, offer, tmp, signer, patch, rebuilt)
            finally:
                tmp.unlink(missing_ok=True)
            await zone.load()
            if zone.served() != offer.serial:
                raise PushRefused(
                    f"serial {offer.serial} was stored but the primary did not load it "
                    "(see its log and /health)",
                    "not-loaded",
                )
        self.accepted += 1
        log.info(
            "push: %s serial %s from signer %s (%s, token %s) installed and served%s",
            offer.zone,
            offer.serial,
            signer,
            where,
            offer.token,
            " (rebuilt from the difference)" if rebuilt else "",
        )
        await _send(writer, {"ok": True, "serial": offer.serial})

    def _admit(self, offer: Offer) -> bool:
        """Whether the offer may be sent (False) or is here already (True); else
        ``PushRefused`` with the reason."""
        store = self.zone(offer).store
        if offer.size > self.push.max_zone_bytes:
            raise PushRefused(
                f"{offer.size} bytes is more than [push] max_zone_bytes = "
                f"{self.push.max_zone_bytes}",
                "size",
            )
        fence = read_fence(store)
        if offer.token < fence.token:
            raise PushRefused(
                f"fencing token {offer.token} is older than token {fence.token} already "
                f"accepted for {offer.zone} (from signer {fence.signer}, serial "
                f"{fence.serial}): this signer has lost the publication lease",
                "token",
            )
        current = store.current()
        if current == offer.serial:
            record = load_record(store.zone_path(current))
            if record is not None and record.sha256 == offer.sha256:
                return True
            raise PushRefused(
                f"serial {offer.serial} is served already, with other bytes", "serial"
            )
        if current is not None and not serial_gt(offer.serial, current):
            raise PushRefused(
                f"serial {offer.serial} is older than the served serial {current} (RFC 1982)",
                "serial",
            )
        _check_records(offer)
        return False

    def _patch_from_current(self, offer: Offer) -> ZonePatch | None:
        """The offer's patch if it applies to the zone served now (``pushpatch.py``),
        else None: the whole file is asked for."""
        store = self.zone(offer).store
        header, current = offer.patch, store.current()
        if header is None or current is None or header.get("from") != current:
            return None
        path = store.zone_path(current)
        record = load_record(path)
        if record is None or record.sha256 != header.get("from_sha256"):
            return None
        try:
            patch = patch_of(header, offer.size)
        except (ZonePatchError, ValueError) as exc:
            log.warning("push of serial %s: its patch is unusable (%s)", offer.serial, exc)
            return None
        if patch.previous != path.name or patch.previous_size != record.size:
            return None
        return patch

    async def _receive_patch(
        self, reader: asyncio.StreamReader, offer: Offer, patch: ZonePatch
    ) -> Path | None:
        """The edits' new bytes, applied to the current file; None when the result does
        not hash to the offered SHA-256 (the whole file is then asked for)."""
        store = self.zone(offer).store
        incoming = store.directory / INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        edits = await self._read_into(reader, patch.changed_bytes, incoming, ".edits")
        fd, name = tempfile.mkstemp(prefix="push.", suffix=".zone", dir=incoming)
        os.close(fd)
        out = Path(name)
        current = store.current()
        try:
            assert current is not None
            got = await asyncio.to_thread(
                rebuild,
                store.zone_path(current),
                edits,
                patch,
                out,
                int(offer.digest["block_size"]),
            )
        except (ZonePatchError, OSError) as exc:
            got = None
            log.warning("push of serial %s: the difference not applied: %s", offer.serial, exc)
        finally:
            edits.unlink(missing_ok=True)
        if got is None or got.sha256 != offer.sha256 or got.size != offer.size:
            if got is not None:
                log.warning(
                    "push of serial %s: serial %s with the difference applied has SHA-256 "
                    "%s, not %s: the whole file is asked for",
                    offer.serial,
                    current,
                    got.sha256,
                    offer.sha256,
                )
            out.unlink(missing_ok=True)
            return None
        return out

    async def _read_into(
        self, reader: asyncio.StreamReader, size: int, directory: Path, suffix: str
    ) -> Path:
        """``size`` bytes of the stream into a private file in ``directory``."""
        fd, name = tempfile.mkstemp(prefix="push.", suffix=suffix, dir=directory)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                left = size
                while left:
                    async with asyncio.timeout(self.push.timeout):
                        data = await reader.read(min(CHUNK, left))
                    if not data:
                        raise PushRefused(
                            f"the push ended after {size - left} of {size} bytes", "incomplete"
                        )
                    out.write(data)
                    left -= len(data)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    async def _receive(self, reader: asyncio.StreamReader, offer: Offer) -> Path:
        """The bytes into a private file in the store, digested as they arrive."""
        store = self.zone(offer).store
        # Beside the store (the same file system), not in it: the store's writer removes
        # stray files of its own directory as leftovers of a dead writer.
        incoming = store.directory / INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="push.", suffix=".zone", dir=incoming)
        path = Path(name)
        digester = Digester(int(offer.digest["block_size"]))
        try:
            with os.fdopen(fd, "wb") as out:
                left = offer.size
                while left:
                    async with asyncio.timeout(self.push.timeout):
                        data = await reader.read(min(CHUNK, left))
                    if not data:
                        raise PushRefused(
                            f"the push ended after {offer.size - left} of {offer.size} bytes",
                            "incomplete",
                        )
                    out.write(data)
                    digester.update(data)
                    left -= len(data)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        got = digester.finish()
        if got.sha256 != offer.sha256:
            path.unlink(missing_ok=True)
            raise PushRefused(
                f"the bytes received have SHA-256 {got.sha256}, not {offer.sha256} as "
                "pushed: nothing installed",
                "sha256",
            )
        return path

    def _install(
        self,
        offer: Offer,
        received: Path,
        signer: str,
        patch: ZonePatch | None = None,
        rebuilt: bool = False,
    ) -> None:
        """Into the store, under its writer lock: the fence first, then the zone. With
        ``patch`` (from the serial served), the patch is kept beside the zone, so the
        IXFR difference is read from its edits (the store checks the bytes outside
        them: ``ixfr.diff_patched``, unless ``rebuilt`` from them), not from the two
        whole files."""
        store = self.zone(offer).store
        digest = FileDigest.from_json(offer.digest)
        with store.writer():
            fence = read_fence(store)
            if offer.token < fence.token:  # another push won meanwhile
                raise PushRefused(
                    f"fencing token {offer.token} is older than {fence.token}", "token"
                )
            target = store.stage_path(offer.serial)
            os.chmod(received, 0o644)
            save_record(target, digest)
            os.replace(received, target)
            fsync_directory(store.directory)
            fsync_directory(received.parent)
            state = ZoneFiles(target).verify_state
            with replacing(state, "w", encoding="utf-8") as out:
                json.dump(offer.verification, out, indent=1)
            if patch is not None:
                patch.save(ZoneFiles(target).patch)
            if offer.token > fence.token or fence.signer != signer:
                write_fence(store, Fence(offer.token, signer, offer.serial))
            store.commit(offer.serial, patch_checked=rebuilt)

    def _refused(self, refusal: Refusal) -> None:
        self.refused += 1
        self.last_refusal = refusal.message
        log.error("%s", refusal.message)
        if self.on_refused is not None:
            self.on_refused(refusal)

    async def _refuse(
        self, writer: asyncio.StreamWriter, refusal: Refusal, short: str = ""
    ) -> None:
        self._refused(refusal)
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(5):
                await _send(writer, {"ok": False, "error": short or refusal.message})


def _check_records(offer: Offer) -> None:
    """The digest record and the verification record must describe the offered bytes."""
    try:
        digest = FileDigest.from_json(offer.digest)
    except (ValueError, KeyError, TypeError) as exc:
        raise PushRefused(f"the digest record is malformed: {exc}", "records") from exc
    if digest.sha256 != offer.sha256 or digest.size != offer.size:
        raise PushRefused("the digest record does not describe the pushed file", "records")
    v = offer.verification
    if v.get("format") != "tldsec-verify-state 1":
        raise PushRefused(
            "the verification record is not a tldsec-verify-state 1 record", "records"
        )
    if v.get("serial") != offer.serial or v.get("sha256") != offer.sha256:
        raise PushRefused(
            f"the verification record is of serial {v.get('serial')} with SHA-256 "
            f"{v.get('sha256')}, not of serial {offer.serial} with {offer.sha256}: the "
            "verification gate did not pass these bytes",
            "records",
        )


async def _send(writer: asyncio.StreamWriter, body: dict[str, Any]) -> None:
    writer.write(json.dumps(body).encode() + b"\n")
    await writer.drain()
