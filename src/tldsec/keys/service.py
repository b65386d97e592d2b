"""KeyManager: the key rules of the pure core, on the signer database and the key store.

Each operation is one transaction: lock the zone's row, load the key records, run a
pure operation (``rollover``, ``emergency``), write the changed records and one history
row per transition, hand every transition to the audit recorder, commit. The clock is
read once per operation. New keys are generated in the key store (the HSM) by the
factory given to the pure core; a key whose tag collides is discarded there.

Entry points build a ``KeyManager`` from settings and pass it down; ``tldsec init``
calls ``bootstrap``, each zone cycle calls ``run_due`` then ``signing_config``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tldsec.clock import Clock
from tldsec.errors import ConfigError, KeyManagementError, TldsecError, TransferRefused
from tldsec.hsm.base import KeyStore
from tldsec.keys import (
    algorithm_rollover,
    emergency,
    gates,
    go_insecure,
    rollover,
    stagger,
    transfer,
    transfer_service,
)
from tldsec.keys.ds import DEFAULT_DIGEST_TYPES, DsRecord, parent_ds_set
from tldsec.keys.emergency import EmergencyPlan
from tldsec.keys.models import META_ID, KeyEventRow, KeyRow, SignerMeta
from tldsec.keys.parentproof import TrustAnchor
from tldsec.keys.plan import signing_config
from tldsec.keys.planner import Constraint, Gate, Plan, plan
from tldsec.keys.rollover import KeyFactory, Outcome
from tldsec.keys.state import KeyEvent, KeyRecord, KeyState, Role, Transition
from tldsec.keys.timing import TimingParams
from tldsec.keys.transfer import Transfer
from tldsec.policy import Policy
from tldsec.signconf import SigningConfig

_log = logging.getLogger(__name__)

# Called as recorder(event, actor=..., **details): the shape of audit.record.
Recorder = Callable[..., object]

DEFAULT_ACTOR = "component:key-manager"

# Our transition -> the audit log's event type (tldsec.audit.events, DPS 4.4.1).
AUDIT_EVENTS: dict[KeyEvent, str] = {
    KeyEvent.GENERATED: "key.generated",
    KeyEvent.DISCARDED: "key.rollover_step",
    KeyEvent.PUBLISHED: "key.published",
    KeyEvent.ACTIVATED: "key.activated",
    KeyEvent.RETIRED: "key.deactivated",
    KeyEvent.REMOVED: "key.removed",
    KeyEvent.COMPROMISED: "key.emergency_rollover",
    KeyEvent.ROLLOVER_REQUESTED: "key.rollover_started",
    KeyEvent.DS_SUBMITTED: "key.ds_submitted",
    KeyEvent.DS_SEEN: "key.ds_seen",
    KeyEvent.DS_WITHDRAWAL_REQUESTED: "key.rollover_step",
    KeyEvent.DS_WITHDRAWN: "key.rollover_step",
    KeyEvent.BACKED_UP: "key.backed_up",
    KeyEvent.PRESIGNED: "key.rollover_step",  # an algorithm rollover (RFC 6781 4.1.4)
    KeyEvent.UNPUBLISHED: "key.rollover_step",
}


# Writes and checks an archive under the SMK holding these keys; returns where it is.
Backup = Callable[[Sequence[str]], str]


def log_recorder(event: str, *, actor: str, **details: Any) -> None:
    """The default recorder: one log line per transition (until the audit log is wired)."""
    _log.info("%s by %s: %s", event, actor, details)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One transition as recorded, with who made it."""

    transition: Transition
    actor: str

    def as_json(self) -> dict[str, Any]:
        t = self.transition
        return {
            "time": t.time.isoformat().replace("+00:00", "Z"),
            "event": str(t.event),
            "key_id": t.key_id,
            "key_tag": t.key_tag,
            "role": str(t.role),
            "reason": t.reason,
            "actor": self.actor,
        }


class KeyManager:
    """One zone's keys: read their state, plan and carry out their transitions."""

    def __init__(
        self,
        engine: Engine,
        keystore: KeyStore | None,
        policy: Policy,
        clock: Clock,
        *,
        origin: str,
        timing: TimingParams | None = None,
        recorder: Recorder | None = None,
        actor: str = DEFAULT_ACTOR,
        backup: Backup | None = None,
        gates: Callable[[], Sequence[Gate]] | None = None,
        zone_id: int = META_ID,
        stagger: Callable[[datetime], Constraint | None] | None = None,
    ) -> None:
        # The zone's row in signer_meta (the registry's zone id, decision 57); every
        # query below reads and writes that zone's rows only. Default: a one-zone home's.
        self.zone_id = zone_id
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._keystore = keystore
        self.policy = policy
        self._clock = clock
        self.origin = (origin if origin.endswith(".") else origin + ".").lower()
        self.timing = timing or TimingParams.from_policy(policy)
        self._recorder = recorder or log_recorder
        self._actor = actor
        self._backup = backup
        # Facts from outside the records that hold keys out of the zone (the replica
        # proof, cycle/replicas.py), read at each plan.
        self._outside_gates = gates or (lambda: ())
        # The ksk-stagger wait of this zone at a time, from every zone's plans in the one
        # signer database (``stagger_hook``, decision 68); None: this zone plans alone.
        self._stagger = stagger
        # Since when the zone is going insecure, and since when it is unsigned (its last
        # step taken), as read under the zone's lock by _write.
        self._insecure: datetime | None = None
        self._handed_over_end: datetime | None = None
        self._unsigned: datetime | None = None

    @property
    def recorder(self) -> Recorder:
        """Where transitions (and the caller's related events) are recorded."""
        return self._recorder

    # --- reading -------------------------------------------------------------------------

    def key_records(self) -> tuple[KeyRecord, ...]:
        """Every key of the zone, ever, oldest first."""
        with self._read() as session:
            self._check_meta(session)
            return _load(session, self.zone_id)

    def history(self, key_ref: str | None = None) -> list[HistoryEntry]:
        """Every recorded transition (of one key if ``key_ref``), oldest first."""
        with self._read() as session:
            self._check_meta(session)
            query = (
                select(KeyEventRow)
                .where(KeyEventRow.zone_id == self.zone_id)
                .order_by(KeyEventRow.time, KeyEventRow.id)
            )
            if key_ref is not None:
                key = rollover.find_key(_load(session, self.zone_id), key_ref)
                query = query.where(KeyEventRow.key_id == key.key_id)
            return [HistoryEntry(r.to_transition(), r.actor) for r in session.scalars(query)]

    def plan(
        self,
        now: datetime | None = None,
        ksk_stagger: Constraint | None = None,
        *,
        alone: bool = False,
    ) -> Plan:
        """The steps ahead: what, when, and which constraint or gate each waits for;
        none once the zone was handed over to another operator and our role ended.
        ``ksk_stagger``: the gate ``staggered_plans`` gives a moved KSK roll; without it
        the manager's own ``stagger`` hook gives it, unless ``alone``."""
        at = now or self._clock.now()
        if ksk_stagger is None and not alone and self._stagger is not None:
            ksk_stagger = self._stagger(at)
        with self._read() as session:
            tr = transfer_service.load(session, self.zone_id) if self._check_meta(session) else None
        if tr is not None and tr.ended is not None and tr.ended <= at:
            return Plan(now=at, steps=())
        insecure = self.going_insecure()
        return plan(
            self.key_records(),
            self.policy,
            self.timing,
            now or self._clock.now(),
            self._gates(),
            insecure[0] if insecure else None,
            ksk_stagger,
        )

    def going_insecure(self) -> tuple[datetime, str] | None:
        """Since when and why the zone is going insecure (DPS 4.6); None if it is not."""
        with self._read() as session:
            meta = self._check_meta(session)
            if meta is None or meta.insecure_requested is None:
                return None
            return meta.insecure_requested, meta.insecure_reason or ""

    def unsigned_since(self) -> datetime | None:
        """Since when the zone is published unsigned (going insecure's last step, DPS 4.6,
        decision 46); None while it is signed. The cycle's unsigned mode follows it."""
        with self._read() as session:
            meta = self._check_meta(session)
            return None if meta is None else meta.unsigned_since

    def signing_config(self, now: datetime | None = None) -> SigningConfig:
        """What the signer publishes and signs with at ``now`` (default: the clock's now);
        refused once the zone is unsigned (going insecure's last step, DPS 4.6); during
        an operator transfer, with the gaining operator's DNSKEYs published."""
        unsigned = self.unsigned_since()
        if unsigned is not None:
            raise KeyManagementError(
                f"the zone is unsigned since {unsigned.isoformat()} (going insecure, DPS 4.6): "
                f"there is no key to sign with; {go_insecure.FRESH_START}"
            )
        at = now or self._clock.now()
        with self._read() as session:
            self._check_meta(session)
            keys, tr = _load(session, self.zone_id), transfer_service.load(session, self.zone_id)
        if tr is not None and tr.ended is not None and tr.ended <= at:
            raise TransferRefused(
                f"the zone was handed over to {tr.operator} and our role ended at "
                f"{tr.ended.isoformat()}: this home signs it no more; stop serving and "
                "distributing it ('tldsec keys transfer status')"
            )
        foreign = tuple(k.zone_key() for k in tr.live_keys(at)) if tr is not None else ()
        return signing_config(keys, self.policy, at, foreign)

    def transfer(self) -> Transfer | None:
        """The operator transfer under way or ended (keys/transfer.py); None if none."""
        with self._read() as session:
            return (
                transfer_service.load(session, self.zone_id) if self._check_meta(session) else None
            )

    def handed_over(self, now: datetime | None = None) -> Transfer | None:
        """The operator transfer whose end (our role's) was reached by ``now``; None while
        this home still signs the zone (keys/transfer.py step ``end``). From then on the
        zone is another operator's: a state, not a failure, for the cycle and serve."""
        at = now or self._clock.now()
        with self._read() as session:
            tr = transfer_service.load(session, self.zone_id) if self._check_meta(session) else None
        if tr is None or tr.ended is None or tr.ended > at:
            return None
        return tr

    def transfer_end_due(self, now: datetime | None = None) -> bool:
        """Whether ``run_due`` at ``now`` takes the transfer's last step (our role ends)."""
        at = now or self._clock.now()
        with self._read() as session:
            self._check_meta(session)
            keys, tr = _load(session, self.zone_id), transfer_service.load(session, self.zone_id)
        return tr is not None and transfer.after_handover(tr, keys, self.timing, at)[1]

    def transfer_step_due(self, now: datetime | None = None) -> str | None:
        """What the operator transfer has due at ``now`` after its handover (our DS
        withdrawal, or the end of our role); None if nothing (keys/transfer.py)."""
        at = now or self._clock.now()
        with self._read() as session:
            self._check_meta(session)
            keys, tr = _load(session, self.zone_id), transfer_service.load(session, self.zone_id)
        if tr is None:
            return None
        return transfer.due_after_handover(tr, keys, self.timing, at)

    def export_ds(
        self, digest_types: Iterable[int] = DEFAULT_DIGEST_TYPES, now: datetime | None = None
    ) -> list[DsRecord]:
        """The DS set the parent should hold now (KSKs submitted and not withdrawn)."""
        return parent_ds_set(
            self.key_records(),
            self.origin,
            now or self._clock.now(),
            digest_types=digest_types,
            ttl=int(self.timing.parent_ds_ttl.total_seconds()),
        )

    def emergency_preview(self, role: Role, key_ref: str | None = None) -> EmergencyPlan:
        """What an emergency rollover would do now, and what would remain at risk."""
        return emergency.preview(
            self.key_records(),
            role,
            self.policy,
            self.timing,
            self._clock.now(),
            key_ref,
            tuple(self._gates()),
        )

    # --- changing --------------------------------------------------------------------------

    def bootstrap(self, reason: str) -> list[KeyRecord]:
        """Create the zone's first keys: active KSK (DS to submit), active ZSK, standby ZSK.

        All or none (decision 83): where a key cannot be made (the token refuses it, or
        is full) or the write fails, the keys this attempt made are deleted from the key
        store and one ``key.generation_failed`` entry names them, so that no key stays
        in the token without its signer row and a second attempt starts afresh."""

        def op(keys: tuple[KeyRecord, ...], now: datetime, factory: KeyFactory) -> Outcome:
            self._refuse_if_unsigned("new keys")
            return rollover.bootstrap(keys, self.policy, now, factory, reason)

        outcome = self._write_all_or_none(op, create=True)
        created = {t.key_id for t in outcome.transitions if t.event is KeyEvent.GENERATED}
        return [k for k in outcome.keys if k.key_id in created]

    def run_due(self) -> list[Transition]:
        """Carry out every planned step that is due now; the transitions made.

        With a ``backup`` hook under ``keystore.backup_before_use``, keys generated (or
        waiting) without a backup are archived by it and recorded as backed up, and the
        steps that then fall due run at once (DPS 5.2.4: an automatic ZSK roll makes its
        own archive)."""
        made_first = transfer_service.TransferManager(self).run_due()
        factory = self._factory()
        gates = tuple(self._gates())
        # Read before the write's lock: the other zones' plans (decision 68).
        wait = self._stagger(self._clock.now()) if self._stagger is not None else None
        outcome = self._write(
            lambda keys, now: rollover.run_due(
                keys, self.policy, self.timing, now, factory, gates, self._insecure, wait
            )
        )
        made = made_first + list(outcome.transitions)
        if self._backup is None or not self.policy.backup_before_use:
            return made
        # A key that enters the zone may make the next one due (the standby ZSK after
        # the first ZSK): a few rounds, each archiving what waits.
        for _ in range(3):
            waiting = [
                k.key_id
                for k in outcome.keys
                if k.backed_up is None
                and k.compromised is None
                and k.state_at(self._clock.now()) is KeyState.GENERATED
            ]
            if not waiting:
                break
            where = self._backup(waiting)
            made += self.record_backup(waiting, f"automatic archive {where}, written and checked")
            outcome = self._write(
                lambda keys, now: rollover.run_due(
                    keys, self.policy, self.timing, now, factory, gates, self._insecure
                )
            )
            made += outcome.transitions
        return made

    def generate(self, role: Role, reason: str) -> KeyRecord:
        """A new key in the key store, not yet in the zone; the planner publishes it."""
        factory = self._factory()

        def op(keys: tuple[KeyRecord, ...], now: datetime) -> Outcome:
            self._refuse_if_unsigned(f"a new {role}")
            return rollover.generate(keys, role, self.policy, now, factory, reason)

        outcome = self._write(op)
        new = [t for t in outcome.transitions if t.event is KeyEvent.GENERATED][-1]
        return rollover.find_key(outcome.keys, new.key_id)

    def algorithm_rollover(self, to: int, reason: str) -> list[Transition]:
        """Start the algorithm rollover to ``to`` (RFC 6781 4.1.4): a KSK and a ZSK of it in
        the key store, then every step now due (their presigning, once backed up).

        Both keys or neither (decision 83), as ``bootstrap``: a KSK made before the ZSK
        failed is deleted from the key store and named in ``key.generation_failed``."""

        def op(keys: tuple[KeyRecord, ...], now: datetime, factory: KeyFactory) -> Outcome:
            self._refuse_if_unsigned("an algorithm rollover")
            return algorithm_rollover.start(keys, to, self.policy, now, factory, reason)

        outcome = self._write_all_or_none(op)
        made = list(outcome.transitions)
        new = [t for t in made if t.event is KeyEvent.GENERATED]
        # DPS 4.4.1 lists algorithm changes among the events the audit log keeps.
        self._recorder(
            "key.algorithm_changed",
            actor=self._actor,
            zone=self.origin,
            to_algorithm=to,
            key_tags=[t.key_tag for t in new],
            reason=reason,
            method="RFC 6781 4.1.4 (conservative)",
        )
        return made + self.run_due()

    def go_insecure(self, reason: str) -> list[Transition]:
        """Begin going insecure (DPS 4.6, ``keys/go_insecure.py``): record the intent and
        ask the parent to withdraw every DS; the zone stays signed meanwhile."""

        def op(keys: tuple[KeyRecord, ...], now: datetime) -> Outcome:
            self._refuse_if_unsigned("going insecure")
            if self._insecure is not None:
                raise KeyManagementError(
                    f"the zone is already going insecure (since {self._insecure.isoformat()}):"
                    " 'tldsec keys plan' shows where it stands"
                )
            return go_insecure.start(keys, now, reason)

        def mark(meta: SignerMeta, now: datetime) -> None:
            if meta.transfer_operator is not None:
                # A transfer keeps the zone signed and hands it on (keys/transfer.py);
                # withdrawing every DS meanwhile would strand the gaining operator.
                raise KeyManagementError(
                    f"the zone is being handed to {meta.transfer_operator} (keys transfer): "
                    "going insecure is refused; cancel the transfer first ('tldsec keys "
                    "transfer cancel')"
                )
            meta.insecure_requested = now
            meta.insecure_reason = reason

        outcome = self._write(op, meta_change=mark)
        withdrawn = [t.key_tag for t in outcome.transitions]
        self._recorder(
            "key.go_insecure_requested",
            actor=self._actor,
            zone=self.origin,
            reason=reason,
            ds_withdrawal_requested=withdrawn,
            method="DPS 4.6, RFC 6781 4.4: DS withdrawn first, signatures last",
        )
        return list(outcome.transitions)

    def cancel_go_insecure(self, reason: str) -> list[Transition]:
        """Back to normal before the zone went unsigned: the active KSK rolls, so a new
        DS goes to the parent by the normal KSK flow; then every step now due."""

        def op(keys: tuple[KeyRecord, ...], now: datetime) -> Outcome:
            if self._unsigned is not None:
                raise KeyManagementError(
                    f"the zone is unsigned since {self._unsigned.isoformat()}: going insecure "
                    f"is complete and cannot be cancelled; {go_insecure.FRESH_START}"
                )
            if self._insecure is None:
                raise KeyManagementError("the zone is not going insecure: nothing to cancel")
            return go_insecure.cancel(keys, now, reason)

        def clear(meta: SignerMeta, now: datetime) -> None:
            meta.insecure_requested = None
            meta.insecure_reason = None

        outcome = self._write(op, meta_change=clear)
        self._recorder(
            "key.go_insecure_cancelled",
            actor=self._actor,
            zone=self.origin,
            reason=reason,
            rollover_requested=[t.key_tag for t in outcome.transitions],
        )
        return list(outcome.transitions) + self.run_due()

    def request_rollover(
        self, role: Role, reason: str, key_ref: str | None = None
    ) -> list[Transition]:
        """Roll the active key now; the DPS periods and RFC 7583 intervals still apply."""

        def op(keys: tuple[KeyRecord, ...], now: datetime) -> Outcome:
            self._refuse_if_unsigned(f"a {role} rollover")
            if self._insecure is not None and role is Role.KSK:
                raise KeyManagementError(
                    "the zone is going insecure: a KSK rollover would bring a DS back; "
                    "'tldsec keys go-insecure --cancel' does that (it rolls the KSK)"
                )
            return rollover.request_rollover(keys, role, now, reason, key_ref)

        outcome = self._write(op)
        return list(outcome.transitions) + self.run_due()

    def emergency_rollover(
        self, role: Role, reason: str, key_ref: str | None = None
    ) -> list[Transition]:
        """Do what ``emergency_preview`` announced (DPS 4.5.3), then any step now due.

        The gates hold (DPS 5.2.4, 5.2.7): a new key is archived at once by the
        ``backup`` hook when there is one, as in ``run_due``, and enters the zone in this
        run if every other gate is open; else it waits (``waiting``) and the compromised
        key keeps its role until it passes."""
        factory = self._factory()
        gates = tuple(self._gates())

        def op(keys: tuple[KeyRecord, ...], now: datetime) -> Outcome:
            self._refuse_if_unsigned(f"an emergency {role} rollover")
            if self._insecure is not None and role is Role.KSK:
                raise KeyManagementError(
                    "the zone is going insecure: a new KSK would bring a DS back; cancel "
                    "first ('tldsec keys go-insecure --cancel'), which rolls the KSK"
                )
            first = emergency.execute(
                keys, role, self.policy, self.timing, now, factory, reason, key_ref, gates
            )
            return first.then(
                rollover.run_due(
                    first.keys, self.policy, self.timing, now, factory, gates, self._insecure
                )
            )

        return list(self._write(op).transitions) + self.run_due()

    def waiting(self, role: Role) -> list[str]:
        """What each key of ``role`` not yet in the zone waits for, at the gates of every
        new key: e.g. "KSK 12345 waits for: backup (no [backup] smk configured)"."""
        out = []
        for step in self.plan().gates:
            if step.role is not role or step.key_id is None:
                continue
            held = [c for c in step.constraints if c.name in ("backup", "replicas")]
            if not held:
                continue
            why = []
            for c in held:
                if c.name == "backup" and self._backup is None:
                    why.append("backup (no [backup] smk configured: 'tldsec backup keys')")
                else:
                    why.append(c.description)
            out.append(f"{role} {step.key_tag} waits for: {'; '.join(why)}")
        return out

    def record_backup(self, key_ids: Sequence[str], reason: str) -> list[Transition]:
        """The keys ``key_ids`` are in an archive under the SMK, written and checked
        (DPS 5.2.4): the planner's backup gate opens for them. Keys backed up before, or
        not of this zone, are left alone."""
        return list(
            self._write(
                lambda keys, now: rollover.record_backup(keys, key_ids, now, reason)
            ).transitions
        )

    def ds_seen(self, key_ref: str, reason: str) -> list[Transition]:
        """The operator confirms the key's DS is in the parent zone."""
        return list(
            self._write(
                lambda keys, now: rollover.confirm_ds_seen(keys, key_ref, now, reason)
            ).transitions
        )

    def ds_gone(self, key_ref: str, reason: str) -> list[Transition]:
        """The operator confirms the key's DS is gone from the parent zone."""
        return list(
            self._write(
                lambda keys, now: rollover.confirm_ds_withdrawn(keys, key_ref, now, reason)
            ).transitions
        )

    def check_parent(
        self,
        servers: Sequence[gates.ParentServer],
        anchor: TrustAnchor,
        timeout: float = gates.DEFAULT_TIMEOUT,
    ) -> tuple[gates.ParentCheck, list[Transition]]:
        """Ask the parent's name servers for our DS set, validated from the parent's trust
        anchor, and open the gates it opens (DPS 2.2: never on an unvalidated answer)."""
        if not servers:
            raise ConfigError("no parent name servers configured ([keys] parent_servers)")
        check = gates.check_parent(
            self.origin, servers, anchor, self._clock.now().timestamp(), timeout
        )
        if self.parent_ttl_problem(check) is not None:
            return check, []

        def op(keys: tuple[KeyRecord, ...], now: datetime) -> Outcome:
            outcome = Outcome(keys)
            for c in gates.confirmations(keys, check, now):
                confirm = (
                    rollover.confirm_ds_seen if c.kind == "seen" else rollover.confirm_ds_withdrawn
                )
                outcome = outcome.then(confirm(outcome.keys, c.key_id, now, c.reason))
            return outcome

        return check, list(self._write(op).transitions)

    def parent_ttl_problem(self, check: gates.ParentCheck) -> str | None:
        """Why ``check`` may open no gate: the parent's DS TTL is longer than the one the
        rollover waits are computed with (RFC 7583 3.3.2), so a wait would end too soon."""
        ttl = check.ds_ttl
        configured = int(self.timing.parent_ds_ttl.total_seconds())
        if ttl is None or ttl <= configured:
            return None
        return (
            f"the parent serves our DS with TTL {ttl} s, longer than the {configured} s the "
            f"rollover waits assume: set [keys] parent_ds_ttl_seconds = {ttl}"
        )

    # --- plumbing ----------------------------------------------------------------------------

    def _refuse_if_unsigned(self, what: str) -> None:
        """Inside a write: nothing brings keys back into an unsigned zone (DPS 4.6), nor
        into a zone handed over to another operator (keys/transfer.py)."""
        if self._handed_over_end is not None:
            raise TransferRefused(
                f"the zone was handed over to another operator and our role ended at "
                f"{self._handed_over_end.isoformat()} ('tldsec keys transfer status'): "
                f"{what} is refused"
            )
        if self._unsigned is not None:
            raise KeyManagementError(
                f"the zone is unsigned since {self._unsigned.isoformat()} (going insecure, "
                f"DPS 4.6): {what} is refused; {go_insecure.FRESH_START}"
            )

    def _mark_unsigned(self, meta: SignerMeta, outcome: Outcome) -> None:
        """Going insecure's last step (``go_insecure.unsign``) was taken in this write: the
        zone fact ``unsigned_since`` in the same transaction, and its audit record."""
        if meta.insecure_requested is None or meta.unsigned_since is not None:
            return
        when = go_insecure.unsigned_at(outcome.keys, meta.insecure_requested)
        if when is None:
            return
        meta.unsigned_since = when
        self._recorder(
            "key.zone_unsigned",
            actor=self._actor,
            zone=self.origin,
            since=when.isoformat(),
            going_insecure_since=meta.insecure_requested.isoformat(),
            reason=meta.insecure_reason or "",
            retired=[t.key_tag for t in outcome.transitions if t.event is KeyEvent.REMOVED],
            hsm_objects="kept (DPS 5.2.10: private keys are not destroyed)",
            method="DPS 4.6, RFC 6781 4.4: every DS gone and expired from caches first",
        )

    def _gates(self) -> tuple[Gate, ...]:
        """The outside gates, and while the zone is handed to another operator, the
        transfer's: no new key enters the zone (keys/transfer.py)."""
        return (*self._outside_gates(), *self._transfer_gates())

    def _transfer_gates(self) -> tuple[Gate, ...]:
        with self._read() as session:
            if session.get(SignerMeta, self.zone_id) is None:
                return ()
            tr = transfer_service.load(session, self.zone_id)
        if tr is None or tr.ended is not None:
            return ()
        return (transfer.hold_gate(tr),)

    def _write_all_or_none(
        self,
        op: Callable[[tuple[KeyRecord, ...], datetime, KeyFactory], Outcome],
        *,
        create: bool = False,
    ) -> Outcome:
        """A write whose ``op`` makes keys through the factory it is given, all or none
        (decision 83): where the write fails, the keys it made are removed from the key
        store (``_remove_made``) before the error goes on."""
        factory = self._factory()
        made: list[KeyRecord] = []

        def making(role: Role, now: datetime) -> KeyRecord:
            key = factory(role, now)
            made.append(key)
            return key

        try:
            return self._write(lambda keys, now: op(keys, now, making), create=create)
        except Exception as exc:
            if made:
                self._remove_made(made, exc)
            raise

    def _remove_made(self, made: Sequence[KeyRecord], exc: Exception) -> None:
        """Delete from the key store the keys of an attempt that failed (none is in the
        zone: the write that would have recorded them did not commit), and record what
        was removed, and what could not be, in one entry (DPS 4.4.1, 5.2.10)."""
        assert self._keystore is not None  # it made them
        removed: list[str] = []
        left: list[str] = []
        for key in made:
            line = f"{key.role} {key.bits}-bit {key.label} ({key.key_id})"
            try:
                self._keystore.delete_key(key.key_id)
            except TldsecError as err:
                left.append(f"{line}: {err}")
            else:
                removed.append(line)
        self._recorder(
            "key.generation_failed",
            actor=self._actor,
            zone=self.origin,
            error=str(exc),
            removed=removed,
            left=left,
        )

    def _factory(self) -> KeyFactory:
        return keystore_factory(self._keystore, self.policy, self.origin)

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with self._sessions() as session:
                yield session
        except SQLAlchemyError as exc:
            raise KeyManagementError(f"the signer database failed: {exc}") from exc

    def _check_meta(self, session: Session) -> SignerMeta | None:
        meta = session.get(SignerMeta, self.zone_id)
        if meta is not None and meta.origin != self.origin:
            raise ConfigError(
                f"the signer database belongs to zone {meta.origin}, not {self.origin}"
            )
        return meta

    def _write(
        self,
        op: Callable[[tuple[KeyRecord, ...], datetime], Outcome],
        *,
        create: bool = False,
        meta_change: Callable[[SignerMeta, datetime], None] | None = None,
    ) -> Outcome:
        now = self._clock.now()
        try:
            with self._sessions() as session, session.begin():
                # The first statement writes the zone row: on SQLite it takes the write
                # lock, on PostgreSQL the row lock; concurrent writers queue here.
                session.execute(
                    update(SignerMeta)
                    .where(SignerMeta.id == self.zone_id)
                    .values(writes=SignerMeta.writes + 1)
                )
                meta = self._check_meta(session)
                if meta is None:
                    if not create:
                        raise KeyManagementError(
                            "the signer database has no keys yet: run 'tldsec init' first"
                        )
                    meta = SignerMeta(id=self.zone_id, origin=self.origin, created=now, writes=1)
                    session.add(meta)
                self._insecure = meta.insecure_requested
                self._unsigned = meta.unsigned_since
                self._handed_over_end = meta.transfer_ended
                zone_keys = select(KeyRow).where(KeyRow.zone_id == self.zone_id)
                rows = {r.key_id: r for r in session.scalars(zone_keys)}
                before = _sorted(r.to_record() for r in rows.values())
                outcome = op(before, now)
                if meta_change is not None:
                    meta_change(meta, now)
                self._persist(session, rows, outcome)
                session.flush()
                for tr in outcome.transitions:
                    self._recorder(
                        AUDIT_EVENTS[tr.event],
                        actor=self._actor,
                        key_event=str(tr.event),
                        key_id=tr.key_id,
                        key_tag=tr.key_tag,
                        role=str(tr.role),
                        reason=tr.reason,
                        time=tr.time.isoformat(),
                        zone=self.origin,
                    )
                self._mark_unsigned(meta, outcome)
        except IntegrityError as exc:
            raise KeyManagementError(
                f"the signer database refused the change (another key manager at work, "
                f"or a key tag already in the zone's history): {exc.orig}"
            ) from exc
        except SQLAlchemyError as exc:
            raise KeyManagementError(f"the signer database failed: {exc}") from exc
        return outcome

    def _persist(self, session: Session, rows: dict[str, KeyRow], outcome: Outcome) -> None:
        for record in outcome.keys:
            row = rows.get(record.key_id)
            if row is None:
                session.add(KeyRow.from_record(record, self.zone_id))
            elif row.to_record() != record:
                row.update_facts(record)
        for tr in outcome.transitions:
            session.add(
                KeyEventRow(
                    zone_id=self.zone_id,
                    time=tr.time,
                    event=str(tr.event),
                    key_id=tr.key_id,
                    key_tag=tr.key_tag,
                    role=str(tr.role),
                    reason=tr.reason,
                    actor=self._actor,
                )
            )


def staggered_plans(managers: Sequence[tuple[KeyManager, int]], now: datetime) -> dict[str, Plan]:
    """Each zone's plan at ``now``, a scheduled KSK roll moved by ``keys/stagger.py``
    where it would fall within its ``ksk_stagger_days`` (the int) of another zone's
    (decision 57, "Staggered KSK rolls"; 68); by origin, in the order given."""
    plans, waits = stagger_waits(managers, now)
    for km, _ in managers:
        if km.origin in waits:
            plans[km.origin] = km.plan(now, ksk_stagger=waits[km.origin])
    return plans


def stagger_waits(
    managers: Sequence[tuple[KeyManager, int]], now: datetime
) -> tuple[dict[str, Plan], dict[str, Constraint]]:
    """Each zone's plan alone at ``now``, and the ``ksk-stagger`` constraint of each
    zone whose scheduled KSK roll the stagger moves."""
    plans = {km.origin: km.plan(now, alone=True) for km, _ in managers}
    rolls: dict[str, stagger.PlannedRoll] = {}
    for km, days in managers:
        roll = stagger.planned_roll(
            km.origin, plans[km.origin], km.key_records(), km.policy.ksk, km.timing, days
        )
        if roll is not None:
            rolls[km.origin] = roll
    decided = stagger.stagger(rolls.values())
    waits: dict[str, Constraint] = {}
    for km, _ in managers:
        if km.origin not in decided:
            continue
        wait = stagger.wait_constraint(decided[km.origin], plans[km.origin])
        if wait is not None:
            waits[km.origin] = wait
    return plans, waits


@dataclass(frozen=True, slots=True)
class ZonePlanning:
    """What a zone's plan is made of, for planning it beside the others: its origin,
    policy, timing and ``ksk_stagger_days``."""

    origin: str
    policy: Policy
    timing: TimingParams
    stagger_days: int


def stagger_hook(
    engine: Engine, zones: Sequence[ZonePlanning], origin: str, clock: Clock
) -> Callable[[datetime], Constraint | None] | None:
    """The ``stagger`` of ``origin``'s KeyManager: at a time, its ``ksk-stagger`` wait
    from every zone's plan, each read from the one signer database by a reading
    manager (decision 68). None when no other zone is there to stagger against."""
    if len(zones) < 2:
        return None
    origin = (origin if origin.endswith(".") else origin + ".").lower()

    def wait(now: datetime) -> Constraint | None:
        ids = signer_zone_ids(engine)
        if origin not in ids:
            return None
        managers = [
            (
                KeyManager(
                    engine,
                    None,
                    z.policy,
                    clock,
                    origin=z.origin,
                    timing=z.timing,
                    zone_id=ids[z.origin],
                ),
                z.stagger_days,
            )
            for z in zones
            if z.origin in ids
        ]
        return stagger_waits(managers, now)[1].get(origin)

    return wait


def signer_zone_ids(engine: Engine) -> dict[str, int]:
    """The signer database's zones, origin -> id (``signer_meta``, decision 57)."""
    try:
        with Session(engine) as session:
            rows = session.execute(select(SignerMeta.origin, SignerMeta.id)).all()
    except SQLAlchemyError as exc:
        raise KeyManagementError(f"the signer database failed: {exc}") from exc
    return {origin: zone_id for origin, zone_id in rows}


def signer_zone_id(engine: Engine, origin: str) -> int:
    """The signer id of ``origin`` (decision 60); a database of no zone yet gives the
    one-zone home's (its first keys make the row), one without this zone is refused,
    naming ``tldsec zone add``."""
    ids = signer_zone_ids(engine)
    origin = (origin if origin.endswith(".") else origin + ".").lower()
    if origin in ids:
        return ids[origin]
    if not ids:
        return META_ID
    raise ConfigError(
        f"{origin} has no keys in the signer database: 'tldsec zone add {origin}' makes "
        "its first KSK and ZSK"
    )


def add_signer_zone(engine: Engine, zone_id: int, origin: str, now: datetime) -> bool:
    """The zone's ``signer_meta`` row, made if missing (``tldsec zone add``); whether
    this call made it. Its id is the registry's zone id (decision 60): a row of that id
    for another origin, or of that origin under another id, is refused."""
    origin = (origin if origin.endswith(".") else origin + ".").lower()
    try:
        with Session(engine) as session, session.begin():
            by_id = session.get(SignerMeta, zone_id)
            by_origin = session.scalar(select(SignerMeta).where(SignerMeta.origin == origin))
            if by_id is not None and by_id.origin != origin:
                raise ConfigError(
                    f"the signer database's zone {zone_id} is {by_id.origin}, not {origin}: "
                    "the registry and the signer database disagree (decision 60)"
                )
            if by_origin is not None and by_origin.id != zone_id:
                raise ConfigError(
                    f"the signer database holds {origin} as zone {by_origin.id}, the "
                    f"registry as zone {zone_id} (decision 60)"
                )
            if by_id is not None:
                return False
            session.add(SignerMeta(id=zone_id, origin=origin, created=now, writes=0))
            return True
    except SQLAlchemyError as exc:
        raise KeyManagementError(f"the signer database failed: {exc}") from exc


def keystore_factory(keystore: KeyStore | None, policy: Policy, origin: str) -> KeyFactory:
    """New keys made in ``keystore`` with the policy's algorithm and size (DPS 6.1)."""

    def make(role: Role, now: datetime) -> KeyRecord:
        if keystore is None:
            raise KeyManagementError(
                f"a new {role} is needed but no key store is open (this command does "
                "not open the HSM; run 'tldsec keys run')"
            )
        kp = policy.ksk if role is Role.KSK else policy.zsk
        zone = origin.rstrip(".") or "root"
        label = f"{zone}-{role}-{now:%Y%m%dT%H%M%SZ}"
        info = keystore.generate_key(label=label, algorithm=kp.algorithm, bits=kp.bits)
        return KeyRecord(
            key_id=info.key_id,
            role=role,
            algorithm=info.algorithm,
            bits=info.bits,
            public_key=info.public_key,
            created=now,
            label=info.label,
        )

    return make


def _sorted(records: Iterable[KeyRecord]) -> tuple[KeyRecord, ...]:
    return tuple(sorted(records, key=lambda k: (k.created, k.key_id)))


def _load(session: Session, zone_id: int) -> tuple[KeyRecord, ...]:
    query = select(KeyRow).where(KeyRow.zone_id == zone_id)
    return _sorted(r.to_record() for r in session.scalars(query))
