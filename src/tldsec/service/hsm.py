"""The HSM as the service holds it (DPS 4.2.4, 5.2.8, 5.2.9, 5.4, 5.5): activation and
deactivation over the activation socket (``activation.py``), a stored PIN's login at
start, and the daily replica proof (issue 14 item 5). A PIN the HSM refuses is never
retried by itself (a token may lock after a few wrong PINs): the service stays locked,
says why on /health, and keeps serving the last good zone. An HSM that is away (the
module cannot load, the token is missing: ``KeyStoreUnavailable``) is retried with
back-off until it answers; /health names it meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import TYPE_CHECKING, Any

from tldsec.backoff import Backoff
from tldsec.errors import KeyStoreError, KeyStoreLoginError, KeyStoreUnavailable, TldsecError
from tldsec.service.activation import Peer
from tldsec.service.auditing import SERVE_ACTOR

if TYPE_CHECKING:
    from tldsec.clock import Clock
    from tldsec.hsm.activation import Activation
    from tldsec.hsm.base import KeyStore
    from tldsec.hsm.replicas import ReplicaReport
    from tldsec.settings import Settings

log = logging.getLogger("tldsec.serve")
REPLICA_CHECK_SECONDS = 86400.0  # the daily replica proof (issue 14 item 5)
HSM_RETRY_SECONDS = 2.0  # the first retry of an HSM that is away; doubles per failure
HSM_RETRY_CEILING = 60.0  # the longest wait between retries


class HsmControl:
    """The part of ``Service`` that logs in to the HSMs and out again."""

    settings: Settings
    clock: Clock
    activation: Activation | None
    hsm_lock: asyncio.Lock
    signing: bool
    replica_check: asyncio.Event
    hsm_retrying: bool = False  # the HSM was away at the stored-PIN login: retrying
    hsm_away: str | None = None  # why (the last error), without secrets

    if TYPE_CHECKING:  # from the other parts of Service

        def _audit_as(self, event: str, actor: str, **details: Any) -> None: ...

        async def _stop_child(self, why: str | None = None) -> None: ...

        def serve_summary(self) -> dict[str, Any]: ...

    def signing_hold(self) -> str | None:
        """Why no cycle may run now (the HSM is locked), or None."""
        if self.activation is None or self.activation.active:
            return None
        if self.hsm_retrying:
            return f"the HSM is unavailable (retrying with back-off): {self.hsm_away}"
        return "the HSM is locked: the Security Officer activates it ('tldsec hsm activate')"

    async def watch_replicas(self, seconds: float) -> None:
        """The daily replica proof (and one at each activation): every HSM signs a fresh
        challenge with every key, while the HSM is active (``cycle/replicas.py``)."""
        while True:
            self.replica_check.clear()
            if self.activation is not None and self.activation.active:
                async with self.hsm_lock:  # no activation or deactivation meanwhile
                    try:
                        await asyncio.to_thread(self.check_replicas)
                    except TldsecError as exc:
                        log.error("replica proof failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self.replica_check.wait()

    def check_replicas(self) -> ReplicaReport:
        """Prove every key on every HSM with the stores the activation holds open."""
        from tldsec.audit.config import open_audit_log
        from tldsec.cycle.replicas import check
        from tldsec.keys.database import open_signer_db
        from tldsec.keys.service import KeyManager, signer_zone_id

        assert self.activation is not None
        stores = self.activation.stores()
        hsms: dict[str, KeyStore | KeyStoreError] = {
            t.name: stores.get(t.name) or KeyStoreUnavailable(f"{t.name} is not open")
            for t in self.activation.tokens
        }
        engine = open_signer_db(self.settings.signer_db_url)
        try:
            records = [  # every zone's keys: they share the HSMs (decision 57)
                record
                for zone in self.settings.selected_zones(None)
                for record in KeyManager(
                    engine,
                    None,
                    zone.policy,
                    self.clock,
                    origin=zone.origin,
                    zone_id=signer_zone_id(engine, zone.origin),
                ).key_records()
            ]
        finally:
            engine.dispose()
        audit = open_audit_log(self.settings, self.clock)
        try:
            report = check(
                self.settings, hsms, records, self.clock.now(), audit.record, SERVE_ACTOR
            )
        finally:
            audit.close()
        for proof in report.incidents:
            log.error("INCIDENT replica proof: %s", proof.line())
        return report

    def replica_status(self) -> dict[str, Any] | None:
        """The last replica proof on disk (a cycle, 'tldsec hsm check' or the daily check
        wrote it); None without [[keystore.replica]]."""
        from tldsec.cycle.replicas import summary

        return summary(self.settings)

    def hsm_status(self) -> dict[str, Any]:
        if not self.signing:
            return {"state": "not used (no signer role)", "tokens": []}
        if self.activation is None:
            return {"state": "keys on disk", "tokens": []}
        status = self.activation.status()
        if self.hsm_retrying and not self.activation.active:
            status["state"] = "unavailable"
            status["last_error"] = self.hsm_away
        return status

    async def hsm_request(self, request: dict[str, Any], peer: Peer) -> dict[str, Any]:
        """One request on the activation socket: status, activate, deactivate."""
        op = request["op"]
        actor = _actor(request.get("actor"))
        if op == "status":
            return {"ok": True, "hsm": self.hsm_status(), "serve": self.serve_summary()}
        if self.activation is None:
            return {"ok": False, "error": f"{op}: this service holds no HSM"}
        async with self.hsm_lock:
            if op == "activate":
                return await self._activate(request, actor, peer)
            if op == "deactivate":
                return await self._deactivate(actor, peer)
        return {"ok": False, "error": f"unknown request {op!r} (status, activate, deactivate)"}

    async def _activate(self, request: dict[str, Any], actor: str, peer: Peer) -> dict[str, Any]:
        activation = self.activation
        assert activation is not None
        pins = request.get("pins")
        if not isinstance(pins, dict) or not all(isinstance(v, str) for v in pins.values()):
            return {"ok": False, "error": "activate needs pins: {token name: PIN}"}
        try:
            await asyncio.to_thread(activation.activate, pins, now=self.clock.now(), by=actor)
        except KeyStoreLoginError as exc:
            log.error("HSM activation refused: %s", exc)
            await asyncio.to_thread(
                self._audit_as,
                "access.login_failed",  # DPS 5.5, as every refused HSM login (cli/main.py)
                actor,
                channel="hsm",
                command="hsm activate",
                error=str(exc),
                peer=peer.as_json(),
            )
            return {"ok": False, "error": str(exc)}
        except KeyStoreError as exc:
            log.error("HSM activation failed: %s", exc)
            await asyncio.to_thread(
                self._audit_as, "hsm.failure", actor, reason=str(exc), peer=peer.as_json()
            )
            return {"ok": False, "error": str(exc)}
        log.info("HSM activated by %s", actor)
        self.replica_check.set()  # every HSM proves its keys at once (issue 14 item 5)
        await asyncio.to_thread(
            self._audit_as,
            "hsm.activated",
            actor,
            tokens=[f"{t.name} '{t.label}'" for t in activation.tokens],
            ceremony=request.get("ceremony"),
            peer=peer.as_json(),
        )
        return {"ok": True, "hsm": self.hsm_status()}

    async def _deactivate(self, actor: str, peer: Peer) -> dict[str, Any]:
        activation = self.activation
        assert activation is not None
        await self._stop_child()  # its sessions close with it: the cycle stops unpublished
        await asyncio.to_thread(activation.deactivate, now=self.clock.now(), by=actor)
        log.info("HSM deactivated by %s", actor)
        await asyncio.to_thread(self._audit_as, "hsm.deactivated", actor, peer=peer.as_json())
        return {"ok": True, "hsm": self.hsm_status()}

    async def retry_hsm(self, base: float = HSM_RETRY_SECONDS) -> None:
        """An HSM that is away (module or token unavailable, not a wrong PIN) at start:
        log in again with back-off (``Backoff``) until it answers, then sign again."""
        backoff = Backoff(base, HSM_RETRY_CEILING)
        while self.hsm_retrying:
            await asyncio.sleep(backoff.next(False))
            async with self.hsm_lock:  # no activation by the officer meanwhile
                if self.activation is None or self.activation.active:
                    self.hsm_retrying = False
                    return
                if await self._activate_stored(retry=True):
                    return

    async def _activate_stored(self, *, retry: bool = False) -> bool:
        """A home that stores its PINs (not the dps policy) is activated at start.
        False: the HSM is away (retry with back-off); True: active, or a refused PIN,
        which is never retried (a token may lock after a few wrong PINs)."""
        activation = self.activation
        assert activation is not None
        actor = SERVE_ACTOR
        try:
            await asyncio.to_thread(activation.activate, {}, now=self.clock.now(), by=actor)
        except KeyStoreError as exc:
            away = not isinstance(exc, KeyStoreLoginError)
            if retry and away and str(exc) == self.hsm_away:
                return False  # the same outage: logged and recorded once
            self.hsm_retrying, self.hsm_away = away, str(exc) if away else None
            log.error(
                "HSM activation with the stored PIN failed%s: %s",
                " (retrying with back-off)" if away else "",
                exc,
            )
            if isinstance(exc, KeyStoreLoginError):
                await asyncio.to_thread(
                    self._audit_as,
                    "access.login_failed",
                    actor,
                    channel="hsm",
                    command="serve",
                    error=str(exc),
                )
            else:
                await asyncio.to_thread(self._audit_as, "hsm.failure", actor, reason=str(exc))
            return not away
        if self.hsm_away is not None:
            log.info("the HSM answers again: activated with the stored PIN")
        self.hsm_retrying, self.hsm_away = False, None
        self.replica_check.set()
        await asyncio.to_thread(self._audit_as, "hsm.activated", actor, pin_source="stored")
        return True

    async def _deactivate_on_exit(self) -> None:
        if self.activation is not None and self.activation.active:
            await self._stop_child()
            await asyncio.to_thread(
                self.activation.deactivate, now=self.clock.now(), by=SERVE_ACTOR
            )


def _actor(value: Any) -> str:
    """The actor a client names (``person:NAME``), kept to the audit log's actor form."""
    if isinstance(value, str) and re.fullmatch(r"person:[A-Za-z0-9._@+-]{1,128}", value):
        return value
    return "person:unknown"
