"""Pushing verified zones from the signer to its primaries (issue 20 item 1, DPS 5.6).

The signer listens on nothing: it opens a TLS connection (TLS 1.2 or later, both sides
authenticated by pinned certificates: ``pushcert``, decision 49) to each configured
primary and sends, one JSON line each way at a time::

    signer  -> {"tldsec-push": 1, "zone", "serial", "token", "size", "sha256",
                "digest": <the .sha256 record>, "verification": <verify-state.json>}
    primary -> {"ok": true, "send": true}      or {"ok": true, "have": true}
               or {"ok": true, "send": "patch"} or {"ok": false, "error": "..."}
    signer  -> the zone file's bytes (``size`` of them)
    primary -> {"ok": true, "serial": N}       or {"ok": false, "error": "..."}

When the header carries a ``patch`` (the zone was patched from the previous serial:
``pushpatch.py``) and the primary serves that serial, it answers ``"send": "patch"``:
the signer sends only the edits' new bytes, and the primary answers ``"serial": N``
once the file it rebuilt hashes to ``sha256``, or ``"send": true`` to have the whole
file after all (on the same connection).

The primary says whether it wants the bytes before they are sent, so an older fencing
token or an older serial is refused at once, with its reason on both sides. ``token``
is the publication lease's fencing token (``cycle/lease.py``). A push that fails on the
way (no route, the primary down, a timeout) is tried again with back-off
(``tldsec.backoff``) until the primary acknowledges it; a refusal is not retried for
that serial. The pushes run beside the cycles and never hold one up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tldsec.backoff import Backoff
from tldsec.distribute.pushcert import fingerprint_der
from tldsec.distribute.pushconfig import PushPeer
from tldsec.distribute.pushpatch import patch_header
from tldsec.distribute.store import ZoneStore
from tldsec.errors import DistributionError, LeaseLost, PushRefused
from tldsec.filedigest import check_file, load_record
from tldsec.zonefiles import ZoneFiles

log = logging.getLogger("tldsec.push")

VERSION = 1
MAX_LINE = 1 << 20  # a header or an answer line
CHUNK = 1 << 20
RETRY_CEILING = 60.0


@dataclass(frozen=True, slots=True)
class Offer:
    """What the signer pushes: a zone file by serial, its digest record and the
    verification gate's record of it, under a fencing token."""

    zone: str
    serial: int
    token: int
    size: int
    sha256: str
    digest: dict[str, Any]
    verification: dict[str, Any]
    patch: dict[str, Any] | None = None  # pushpatch.patch_header

    def header(self) -> bytes:
        body = {
            "tldsec-push": VERSION,
            "zone": self.zone,
            "serial": self.serial,
            "token": self.token,
            "size": self.size,
            "sha256": self.sha256,
            "digest": self.digest,
            "verification": self.verification,
        }
        if self.patch is not None:
            body["patch"] = self.patch
        return json.dumps(body, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def parse(cls, line: bytes) -> Offer:
        """The header line, or ``PushRefused`` saying what is wrong with it."""
        try:
            body = json.loads(line)
        except ValueError as exc:
            raise PushRefused(f"the push header is not JSON: {exc}") from exc
        if not isinstance(body, dict) or body.get("tldsec-push") != VERSION:
            raise PushRefused(f"not a tldsec-push {VERSION} header")
        try:
            offer = cls(
                zone=str(body["zone"]),
                serial=int(body["serial"]),
                token=int(body["token"]),
                size=int(body["size"]),
                sha256=str(body["sha256"]),
                digest=dict(body["digest"]),
                verification=dict(body["verification"]),
                patch=dict(body["patch"]) if body.get("patch") is not None else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PushRefused(f"the push header lacks or garbles {exc}") from exc
        if not (0 <= offer.serial < 2**32 and offer.token >= 0 and offer.size >= 0):
            raise PushRefused("the push header's serial, token or size is out of range")
        return offer


def offer_for(store: ZoneStore, serial: int, token: int) -> Offer:
    """The offer of ``serial`` from the signer's store: its file must still equal the
    digest the gate recorded, and the gate's record must describe that serial."""
    path = store.zone_path(serial)
    check_file(path)  # DigestMismatch: never push bytes the gate did not verify
    digest = load_record(path)
    assert digest is not None  # check_file proved it readable
    state_file = ZoneFiles(path).verify_state
    try:
        verification = json.loads(state_file.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise DistributionError(f"cannot read the verification record {state_file}: {exc}") from exc
    if verification.get("serial") != serial or verification.get("sha256") != digest.sha256:
        raise DistributionError(
            f"the verification record {state_file} describes serial "
            f"{verification.get('serial')}, not serial {serial} as published: wait for the "
            "next cycle"
        )
    offer = Offer(
        store.origin, serial, token, digest.size, digest.sha256, digest.as_json(), verification
    )
    patch = patch_header(store, serial, digest.size)
    if patch is None:
        return offer
    with_patch = dataclasses.replace(offer, patch=patch)
    # the primary reads one line of at most MAX_LINE: a huge patch is not offered
    return with_patch if len(with_patch.header()) < MAX_LINE // 2 else offer


# --- TLS ------------------------------------------------------------------------------


def client_context(cert: Path, key: Path, peer: PushPeer) -> ssl.SSLContext:
    """Our certificate, and only the primary's pinned certificate trusted."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False  # the pin, not a name, identifies the primary
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=peer.cert.read_text("ascii"))
    ctx.load_cert_chain(cert, key)
    return ctx


def server_context(cert: Path, key: Path, signers: tuple[PushPeer, ...]) -> ssl.SSLContext:
    """Our certificate; a client certificate required, only the pinned ones trusted."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata="".join(p.cert.read_text("ascii") for p in signers))
    ctx.load_cert_chain(cert, key)
    return ctx


# --- the signer's side ----------------------------------------------------------------


def push_once(
    peer: PushPeer, ctx: ssl.SSLContext, offer: Offer, zone_file: Path, timeout: float
) -> str:
    """Push one zone to one primary (blocking; run in a thread). Returns "pushed",
    "pushed the difference" or "had it"; ``PushRefused`` for a refusal, ``OSError`` for
    anything worth retrying."""
    assert peer.address is not None
    host, port = peer.address
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        ctx.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True) or b""
        if fingerprint_der(der) != peer.sha256:
            raise PushRefused(
                f"primary {peer.name} at {host} port {port} presented certificate "
                f"{fingerprint_der(der)}, not the pinned {peer.sha256}"
            )
        tls.sendall(offer.header())
        answer = _answer(tls, peer)
        if answer.get("have"):
            return "had it"
        if answer.get("send") == "patch" and offer.patch is not None:
            _send_edits(tls, zone_file, offer.patch)
            if not _answer(tls, peer).get("send"):
                return "pushed the difference"
            # the primary could not rebuild the file: the whole of it, as it asks
        with open(zone_file, "rb") as src:
            sent = 0
            while chunk := src.read(CHUNK):
                tls.sendall(chunk)
                sent += len(chunk)
        if sent != offer.size:
            raise DistributionError(f"{zone_file} changed while it was pushed")
        _answer(tls, peer)
    return "pushed"


def _send_edits(tls: ssl.SSLSocket, zone_file: Path, patch: dict[str, Any]) -> None:
    """The new bytes of the patch's edits, in order."""
    sent = 0
    with open(zone_file, "rb") as src:
        for _old_start, _old_end, new_start, new_end in patch["edits"]:
            src.seek(new_start)
            left = new_end - new_start
            while left > 0:
                chunk = src.read(min(CHUNK, left))
                if not chunk:
                    raise DistributionError(f"{zone_file} changed while it was pushed")
                tls.sendall(chunk)
                left -= len(chunk)
                sent += len(chunk)
    if sent != patch["bytes"]:
        raise DistributionError(f"{zone_file} changed while it was pushed")


def _answer(tls: ssl.SSLSocket, peer: PushPeer) -> dict[str, Any]:
    line = bytearray()
    while not line.endswith(b"\n"):
        data = tls.recv(1)  # answers are short; the next byte may be the body's
        if not data:
            raise ConnectionError(
                f"primary {peer.name} closed the connection without an answer (TLS 1.3 "
                "refuses an unpinned signer only now: is this signer's certificate in its "
                "[[push.signers]]?)"
            )
        line += data
        if len(line) > MAX_LINE:
            raise ConnectionError(f"primary {peer.name} sent an over-long answer")
    try:
        answer = json.loads(line)
    except ValueError as exc:
        raise ConnectionError(f"primary {peer.name} answered garbage: {exc}") from exc
    if not isinstance(answer, dict) or not answer.get("ok"):
        error = answer.get("error") if isinstance(answer, dict) else None
        raise PushRefused(f"primary {peer.name} refused the push: {error or 'no reason'}")
    return answer


@dataclass
class PeerState:
    """One primary, as the signer sees it."""

    name: str
    acked: int | None = None  # the newest serial it acknowledged
    refused: tuple[int, str] | None = None  # a serial it refused, and why
    error: str | None = None  # the last failure, while it is retried
    pushes: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "primary": self.name,
            "acknowledged": self.acked,
            "refused": None if self.refused is None else self.refused[1],
            "error": self.error,
        }


@dataclass
class Pusher:
    """Keeps every primary on the store's current serial: one task per primary."""

    store: ZoneStore
    primaries: tuple[PushPeer, ...]
    cert: Path
    key: Path
    token: Callable[[], int]  # the lease's fencing token, or LeaseLost
    timeout: float = 60.0
    retry: float = 2.0
    poll: float = 5.0  # how often the store is looked at without a wake-up
    states: dict[str, PeerState] = field(default_factory=dict)
    _wake: dict[str, asyncio.Event] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for peer in self.primaries:
            self.states[peer.name] = PeerState(peer.name)
            self._wake[peer.name] = asyncio.Event()
            self._tasks.append(loop.create_task(self._follow(peer)))

    def wake(self) -> None:
        """A new serial may be in the store: push now."""
        for event in self._wake.values():
            event.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def faults(self) -> list[str]:
        """Primaries behind the store: each with why (for /health)."""
        current = self.store.current()
        found = []
        for state in self.states.values():
            if state.refused is not None and state.refused[0] == current:
                found.append(f"push to primary {state.name}: {state.refused[1]}")
            elif state.error is not None and state.acked != current:
                found.append(
                    f"push to primary {state.name} (retrying with back-off): {state.error}"
                )
        return found

    async def _follow(self, peer: PushPeer) -> None:
        state, wake = self.states[peer.name], self._wake[peer.name]
        backoff = Backoff(self.retry, RETRY_CEILING)
        wait = self.poll
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await wake.wait()
            wake.clear()
            ok = await self._push(peer, state)
            wait = self.poll if ok else backoff.next(False)
            if ok:
                backoff.next(True)

    async def _push(self, peer: PushPeer, state: PeerState) -> bool:
        """One attempt if the primary is behind; False: try again after a back-off."""
        try:
            serial = await asyncio.to_thread(self.store.current)
        except DistributionError as exc:
            _note(state, str(exc))
            return False
        if serial is None or serial == state.acked:
            return True
        if state.refused is not None and state.refused[0] == serial:
            return True  # refused: not retried until a new serial
        try:
            offer = await asyncio.to_thread(offer_for, self.store, serial, self.token())
            ctx = client_context(self.cert, self.key, peer)
            how = await asyncio.to_thread(
                push_once, peer, ctx, offer, self.store.zone_path(serial), self.timeout
            )
        except PushRefused as exc:
            state.refused, state.error = (serial, str(exc)), None
            log.error("push: serial %s to primary %s refused: %s", serial, peer.name, exc)
            return True
        except LeaseLost as exc:
            _note(state, f"not pushed: {exc}")
            return False
        except (OSError, DistributionError) as exc:  # ssl.SSLError is an OSError
            _note(state, _why(exc, peer))
            return False
        state.acked, state.error, state.refused = serial, None, None
        state.pushes += 1
        log.info(
            "push: primary %s has serial %s (%s, token %s)", peer.name, serial, how, offer.token
        )
        return True


def _note(state: PeerState, error: str) -> None:
    if error != state.error:  # once per distinct failure, not at every retry
        log.error("push to primary %s failed (retrying with back-off): %s", state.name, error)
    state.error = error


def _why(exc: BaseException, peer: PushPeer) -> str:
    where = f"{peer.address[0]} port {peer.address[1]}" if peer.address else peer.name
    if isinstance(exc, ssl.SSLError):
        return (
            f"TLS with {where} failed: {exc.reason or exc} (is this signer's certificate "
            f"pinned in the primary's [[push.signers]], and {peer.cert} the primary's?)"
        )
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
        return f"cannot reach {where}: {exc.strerror}"
    return f"{where}: {exc}"
