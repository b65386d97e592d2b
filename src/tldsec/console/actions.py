"""DS changes from the console: the registry's own ``update_domain`` with the actor's
``Tx``, the same DS rules and history/zone-change rows as EPP (STYLE 7), and a refusal
reported with the EPP result code and messages (``epp.errors.from_registry_error``).

Every change is audited as the person (``registrar:ID/user``) with the source address;
as over EPP (decision 56), a change's entries (received, changed, accepted; or received
and rejected) are held and written in one append of the audit log, just before the
registry's COMMIT; if that transaction then fails, the audit log says the change did
not happen (``AuditTrail.not_committed``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy import func, select

from tldsec.clock import Clock
from tldsec.console.sessions import ConsoleSession
from tldsec.db.pgwire import send_deferred
from tldsec.epp.errors import from_registry_error
from tldsec.errors import DsRejected, RegistryError
from tldsec.registry.audit import AuditRecorder, AuditTrail
from tldsec.registry.context import Actor, RegistryRules, Tx
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.ds_rules import DsData, Violation
from tldsec.registry.ds_update import DsUpdate, update_ds
from tldsec.registry.models import ZoneChange
from tldsec.registry.names import normalize
from tldsec.registry.routing import Access, ZoneRoutes


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the registry refused: the EPP result code, and each message."""

    code: int
    messages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A DS change: accepted (its zone-change row), or refused."""

    refusal: Refusal | None = None
    change_id: int | None = None
    at: datetime | None = None
    sv_trid: str = ""
    added: tuple[DsData, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class DsChanger:
    db: RegistryDatabase
    rules: RegistryRules
    hasher: PasswordHasher
    clock: Clock
    audit: AuditRecorder
    # The registry's zones (decision 61): a change runs under its domain's zone's rules
    # once the registrar may change there, as EPP's ``domain:update`` is routed; None: a
    # registry without a zone row, every change under ``rules``.
    routes: ZoneRoutes | None = None

    def change(
        self,
        who: ConsoleSession,
        domain: str,
        *,
        add: tuple[DsData, ...] = (),
        remove: tuple[DsData, ...] = (),
        remove_all: bool = False,
    ) -> Outcome:
        """Apply one DS change to ``domain`` as ``who``; never raises a registry refusal."""

        as_person = _AsPerson(self.audit, who)
        routes = self.routes
        zone = routes.index.zone_of(normalize(domain) or ".") if routes is not None else None
        trail = AuditTrail(as_person, hold=True, zone=zone)
        tx = Tx(
            actor=Actor(who.client_id, who.registrar_id),
            now=self.clock.now(),
            sv_trid=f"console-{secrets.token_hex(8)}",
            rules=self.rules,
            hasher=self.hasher,
            audit=trail,
        )
        request = DomainUpdate(name=domain, ds_rem_all=remove_all, ds_rem=remove, ds_add=add)
        only_ds = DsUpdate(name=domain, remove_all=remove_all, remove=remove, add=add)
        # DPS 4.4.1 "receipt and validation of signed public key material", as EPP records it.
        trail("ds.received", actor=who.actor, domain=domain, command="console", sv_trid=tx.sv_trid)
        try:
            if routes is not None:
                # 57's table, as for EPP's domain:update: a change needs an accreditation
                # that is active now (NotAccredited, 2201, with the reason otherwise).
                route = routes.route(
                    domain, Access.CHANGE, who.client_id, who.accreditations, tx.now
                )
                tx = replace(tx, rules=route.rules)
            with self.db.write() as session:
                # EPP's hot path for a DS-only update (the same rules, rows, ledger delta
                # and audit event as ``update_domain``, which takes what it leaves).
                if not update_ds(session, tx, only_ds):
                    update_domain(session, tx, request)
                trail(
                    "ds.accepted",
                    actor=who.actor,
                    domain=domain,
                    command="console",
                    sv_trid=tx.sv_trid,
                )
                if not self.db.is_sqlite:
                    send_deferred(session)  # the hot path's writes, for the change's id
                session.flush()
                change_id = session.scalar(
                    select(func.max(ZoneChange.id)).where(ZoneChange.name == domain)
                )
                trail.flush()  # one append, before the COMMIT
        except RegistryError as exc:
            trail.not_committed("console ds change", tx.sv_trid)
            refusal = refusal_of(exc)
            trail(
                "ds.rejected",
                actor=who.actor,
                domain=domain,
                command="console",
                code=refusal.code,
                rules=[str(getattr(v, "rule", v)) for v in getattr(exc, "violations", ())],
                reason=str(exc),
            )
            trail.flush_attempts("console ds change", tx.sv_trid)
            return Outcome(refusal=refusal, sv_trid=tx.sv_trid)
        except BaseException:
            trail.not_committed("console ds change", tx.sv_trid)
            trail.flush_attempts("console ds change", tx.sv_trid)
            raise
        return Outcome(change_id=change_id, at=tx.now, sv_trid=tx.sv_trid, added=add)


@dataclass(frozen=True, slots=True)
class _AsPerson:
    """The audit recorder of one person's change: the person, the source address and the
    channel on every entry; ``record_many`` when the log has it (one append)."""

    audit: AuditRecorder
    who: ConsoleSession

    def __call__(self, event: str, *, actor: str, **details: object) -> None:
        self.audit(event, actor=self.who.actor, **self._details(details))

    def record_many(self, events: Sequence[tuple[str, str, Mapping[str, object]]]) -> None:
        many = getattr(self.audit, "record_many", None)
        if many is None:
            for event, actor, details in events:
                self(event, actor=actor, **details)
            return
        many([(event, self.who.actor, self._details(d)) for event, _, d in events])

    def _details(self, details: Mapping[str, object]) -> dict[str, object]:
        return {**details, "source": self.who.source, "channel": "console"}


def refusal_of(exc: RegistryError) -> Refusal:
    """The EPP code and messages of a registry refusal (one message per DS violation)."""
    code = int(from_registry_error(exc).code)
    if isinstance(exc, DsRejected):
        messages = tuple(v.message for v in exc.violations if isinstance(v, Violation))
        return Refusal(code, messages or (str(exc),))
    return Refusal(code, (str(exc),))
