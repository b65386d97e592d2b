"""Carrying out key operations on key records: due plan steps, bootstrap, manual rolls.

Every function takes the current records and returns an ``Outcome``: the new records
and the transitions to record. Nothing is stored here; the service persists an
outcome in one transaction and the simulation keeps it in memory, so both run the very
same rules. New keys come from a ``KeyFactory`` (the key store in production); a key
whose tag collides with any key of the zone's history is discarded and another made.

Pure: no clock, no database (the factory is the only door to a key store).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tldsec.errors import KeyManagementError, PolicyError
from tldsec.keys import state
from tldsec.keys.planner import Action, Constraint, Gate, Step, plan
from tldsec.keys.state import KeyEvent, KeyRecord, KeyState, Role, Transition
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy

# Makes a new key (in the key store) and returns its record, created at the given time.
KeyFactory = Callable[[Role, datetime], KeyRecord]

# A 16-bit tag collides by chance; this many in a row means something is broken.
MAX_KEY_ATTEMPTS = 16
# run_due never loops forever, whatever the records say.
MAX_STEPS_PER_RUN = 64


@dataclass(frozen=True, slots=True)
class Outcome:
    """The records after an operation and the transitions it made, in order."""

    keys: tuple[KeyRecord, ...]
    transitions: tuple[Transition, ...] = ()

    def then(self, other: Outcome) -> Outcome:
        return Outcome(other.keys, self.transitions + other.transitions)


class KeyBook:
    """A working copy of the records that collects transitions as they happen."""

    def __init__(self, keys: Sequence[KeyRecord]) -> None:
        self.keys = list(keys)
        self.transitions: list[Transition] = []

    def get(self, key_id: str) -> KeyRecord:
        for k in self.keys:
            if k.key_id == key_id:
                return k
        raise KeyManagementError(f"no key with id {key_id!r}")

    def apply(self, result: tuple[KeyRecord, Transition]) -> KeyRecord:
        new, transition = result
        self.keys = [new if k.key_id == new.key_id else k for k in self.keys]
        self.transitions.append(transition)
        return new

    def outcome(self) -> Outcome:
        return Outcome(tuple(self.keys), tuple(self.transitions))


def find_key(keys: Sequence[KeyRecord], ref: str) -> KeyRecord:
    """The key named by ``ref``: its key store id, or its key tag (unique in a zone)."""
    for k in keys:
        if k.key_id == ref:
            return k
    if ref.isdigit():
        matches = [k for k in keys if k.key_tag == int(ref)]
        if len(matches) == 1:
            return matches[0]
    raise KeyManagementError(f"no key with id or key tag {ref!r}")


def refuse_algorithm_change(
    keys: Sequence[KeyRecord], role: Role, policy: Policy, now: datetime
) -> None:
    """Refuse a new ``role`` key of an algorithm none of the zone's keys of that role has.

    A successor of another algorithm published by an ordinary roll would announce an
    algorithm that signs nothing else (RFC 6840 5.11, RFC 4035 2.2) and the next sign
    would find no key of the zone's algorithm: changing algorithms takes the algorithm
    rollover of RFC 6781 4.1.4, whose steps differ (DPS 4.4.1 "algorithm changes")."""
    wanted = int((policy.ksk if role is Role.KSK else policy.zsk).algorithm)
    live = sorted(
        {
            int(k.algorithm)
            for k in keys
            if k.role is role and k.state_at(now) is not KeyState.REMOVED
        }
    )
    if live and wanted not in live:
        table = str(role)
        raise PolicyError(
            f"{table}.algorithm",
            f"the policy's {role.upper()} algorithm is {wanted} but the zone's {role.upper()}s use "
            f"{', '.join(map(str, live))}: a new {role.upper()} of another algorithm would break "
            "validation; changing the algorithm takes an algorithm rollover (RFC 6781 "
            f"4.1.4): run 'tldsec keys algorithm-rollover --to {wanted}', or restore "
            f"[{table}] algorithm = {live[0]} in the policy",
        )


def new_key(
    book: KeyBook,
    role: Role,
    now: datetime,
    factory: KeyFactory,
    reason: str,
    policy: Policy,
    *,
    algorithm_rollover: bool = False,
) -> KeyRecord:
    """A fresh key whose tag collides with no key in the zone or its history, of the
    zone's algorithm (``refuse_algorithm_change``), or of the policy's new algorithm when
    an algorithm rollover starts (``keys/algorithm_rollover.py``)."""
    if not algorithm_rollover:
        refuse_algorithm_change(book.keys, role, policy, now)
    taken = {k.key_tag for k in book.keys}
    for _ in range(MAX_KEY_ATTEMPTS):
        key = factory(role, now)
        if key.role is not role or key.created != now:
            raise KeyManagementError("the key factory returned a key of another role or time")
        if any(k.key_id == key.key_id for k in book.keys):
            raise KeyManagementError(f"the key store returned an existing key id {key.key_id}")
        if key.key_tag in taken:
            # Issue rule: a tag seen before in this zone would make DS and RRSIG
            # ambiguous (RFC 4034 5.1.1 / B); discard the key and make another.
            book.transitions.append(
                Transition(
                    now,
                    KeyEvent.DISCARDED,
                    key.key_id,
                    key.key_tag,
                    role,
                    f"key tag {key.key_tag} collides with a key of this zone or its history",
                )
            )
            continue
        book.keys.append(key)
        book.transitions.append(
            Transition(now, KeyEvent.GENERATED, key.key_id, key.key_tag, role, reason)
        )
        return key
    raise KeyManagementError(
        f"{MAX_KEY_ATTEMPTS} new {role} keys in a row had colliding key tags; "
        "the key store is not producing fresh keys"
    )


def bootstrap(
    keys: Sequence[KeyRecord], policy: Policy, now: datetime, factory: KeyFactory, reason: str
) -> Outcome:
    """The zone's first keys: an active KSK (DS to submit) and ZSK, and a standby ZSK.

    Under ``backup_before_use`` (DPS 5.2.4) the KSK and ZSK are only generated: the
    planner brings each into the zone once a checked archive holds it (``Action.
    BOOTSTRAP``), and the standby ZSK follows as every later ZSK does.
    """
    if any(k.state_at(now) is not KeyState.REMOVED for k in keys):
        raise KeyManagementError(
            "the zone already has keys; bootstrap only creates the first ones "
            "(see 'tldsec keys list')"
        )
    book = KeyBook(keys)
    if policy.backup_before_use:
        new_key(
            book, Role.KSK, now, factory, f"{reason}: first KSK, enters after its backup", policy
        )
        new_key(
            book, Role.ZSK, now, factory, f"{reason}: first ZSK, enters after its backup", policy
        )
        return book.outcome()
    ksk = new_key(book, Role.KSK, now, factory, reason, policy)
    book.apply(state.publish(ksk, now, reason))
    book.apply(state.activate(book.get(ksk.key_id), now, reason))
    # The initial DS goes to the parent like a rollover's: submitted, then ds-seen.
    book.apply(state.submit_ds(book.get(ksk.key_id), now, f"{reason}: initial DS"))
    zsk = new_key(book, Role.ZSK, now, factory, reason, policy)
    book.apply(state.publish(zsk, now, reason))
    book.apply(state.activate(book.get(zsk.key_id), now, reason))
    if policy.zsk.standby:
        spare = new_key(book, Role.ZSK, now, factory, f"{reason}: standby ZSK (DPS 4.5.3)", policy)
        book.apply(state.publish(spare, now, f"{reason}: standby ZSK (DPS 4.5.3)"))
    return book.outcome()


def generate(
    keys: Sequence[KeyRecord],
    role: Role,
    policy: Policy,
    now: datetime,
    factory: KeyFactory,
    reason: str,
) -> Outcome:
    """A new key in the store, not yet in the zone; the planner publishes it in time."""
    book = KeyBook(keys)
    new_key(book, role, now, factory, reason, policy)
    return book.outcome()


def record_backup(
    keys: Sequence[KeyRecord], key_ids: Sequence[str], now: datetime, reason: str
) -> Outcome:
    """The keys ``key_ids`` (those of this zone not backed up before) are in a checked
    archive under the SMK from ``now`` on (DPS 5.2.4); other ids are ignored."""
    book = KeyBook(keys)
    wanted = set(key_ids)
    for key in list(book.keys):
        if key.key_id in wanted and key.backed_up is None:
            book.apply(state.mark_backed_up(key, now, reason))
    return book.outcome()


def step_reason(step: Step) -> str:
    """Why a planned step ran: its action and the constraint that decided its time."""
    return f"{step.describe()}; due: {step.waiting_for.description}"


def apply_step(
    keys: Sequence[KeyRecord],
    step: Step,
    policy: Policy,
    now: datetime,
    factory: KeyFactory,
    gated: bool = False,
) -> Outcome:
    """Carry out one planned step that is due at ``now``."""
    if not step.is_due(now):
        raise KeyManagementError(
            f"{step.describe()} is not due at {now.isoformat()}: waiting for "
            f"{step.waiting_for.description}"
        )
    reason = step_reason(step)
    if step.algorithm_rollover:
        # Imported here: the algorithm rollover builds on this module's KeyBook.
        from tldsec.keys import algorithm_rollover

        return algorithm_rollover.apply(keys, step, now, reason)
    if step.action is Action.UNSIGN:
        from tldsec.keys import go_insecure

        return go_insecure.unsign(keys, now, reason)
    book = KeyBook(keys)
    if step.action is Action.PUBLISH:
        key = book.get(step.key_id) if step.key_id else None
        if key is None:
            key = new_key(book, step.role, now, factory, reason, policy)
            if policy.backup_before_use or gated:
                # published once a checked archive holds it, and every gate (the replica
                # proof) lets it in
                return book.outcome()
        book.apply(state.publish(key, now, reason))
    elif step.action is Action.BOOTSTRAP and step.key_id is not None:
        key = book.apply(state.publish(book.get(step.key_id), now, reason))
        book.apply(state.activate(key, now, reason))
    elif step.action is Action.SUBMIT_DS:
        assert step.key_id is not None
        book.apply(state.submit_ds(book.get(step.key_id), now, reason))
    elif step.action is Action.SWITCH:
        assert step.key_id is not None
        return switch(keys, step.key_id, now, reason)
    elif step.action is Action.WITHDRAW_DS:
        assert step.key_id is not None
        book.apply(state.request_ds_withdrawal(book.get(step.key_id), now, reason))
    elif step.action is Action.REMOVE:
        assert step.key_id is not None
        key = book.get(step.key_id)
        if (
            key.role is Role.KSK
            and key.ds_submitted is not None
            and key.ds_withdrawal_requested is None
        ):
            key = book.apply(state.request_ds_withdrawal(key, now, reason))
        book.apply(state.remove(key, now, reason))
    else:
        raise KeyManagementError(f"{step.describe()} is not something the key manager does")
    return book.outcome()


def run_due(
    keys: Sequence[KeyRecord],
    policy: Policy,
    t: TimingParams,
    now: datetime,
    factory: KeyFactory,
    gates: Sequence[Gate] = (),
    insecure_since: datetime | None = None,
    ksk_stagger: Constraint | None = None,
) -> Outcome:
    """Carry out every step due at ``now``, re-planning after each; ``ksk_stagger``
    moves a scheduled KSK publication as ``planner.plan`` says (decision 68)."""
    outcome = Outcome(tuple(keys))
    for _ in range(MAX_STEPS_PER_RUN):
        steps = plan(outcome.keys, policy, t, now, gates, insecure_since, ksk_stagger)
        due = steps.due_steps(now)
        if not due:
            return outcome
        outcome = outcome.then(
            apply_step(outcome.keys, due[0], policy, now, factory, gated=bool(gates))
        )
    raise KeyManagementError(f"more than {MAX_STEPS_PER_RUN} steps due at once; refusing to loop")


def switch(keys: Sequence[KeyRecord], successor_id: str, now: datetime, reason: str) -> Outcome:
    """The successor starts signing and the active key of its role retires, at once."""
    book = KeyBook(keys)
    new = book.get(successor_id)
    if new.retired is not None or new.removed is not None:
        raise KeyManagementError(
            f"{new.name} was retired; a superseded key never signs again (DPS 5.3)"
        )
    if new.state_at(now) is not KeyState.PUBLISHED:
        raise KeyManagementError(
            f"{new.name} is {new.state_at(now)}: only a published key can take over signing"
        )
    if new.role is Role.KSK and (new.ds_seen is None or new.ds_withdrawal_requested is not None):
        raise KeyManagementError(
            f"{new.name}: its DS is not confirmed in the parent zone; switching to it would "
            "break the chain of trust (run 'tldsec keys ds-seen' once the DS is there)"
        )
    old = [k for k in book.keys if k.role is new.role and k.state_at(now) is KeyState.ACTIVE]
    book.apply(state.activate(new, now, reason))
    for k in old:
        book.apply(state.retire(k, now, reason))
    return book.outcome()


def request_rollover(
    keys: Sequence[KeyRecord], role: Role, now: datetime, reason: str, key_ref: str | None = None
) -> Outcome:
    """Roll the active key of ``role`` now rather than at the end of its lifetime.

    The rollover still waits for every DPS period and RFC 7583 interval; only the
    lifetime is cut short. ``key_ref`` must then name the active key.
    """
    book = KeyBook(keys)
    key = active_key(book.keys, role, now, key_ref)
    book.apply(state.request_rollover(key, now, reason))
    return book.outcome()


def active_key(
    keys: Sequence[KeyRecord], role: Role, now: datetime, key_ref: str | None
) -> KeyRecord:
    if key_ref is not None:
        key = find_key(keys, key_ref)
        if key.role is not role:
            raise KeyManagementError(f"{key.name} is not a {role}")
        if key.state_at(now) is not KeyState.ACTIVE:
            raise KeyManagementError(
                f"{key.name} is {key.state_at(now)}, not active: only the active key rolls"
            )
        return key
    active = [k for k in keys if k.role is role and k.state_at(now) is KeyState.ACTIVE]
    if not active:
        raise KeyManagementError(f"there is no active {role} to roll")
    return max(active, key=lambda k: k.active or now)


def confirm_ds_seen(keys: Sequence[KeyRecord], key_ref: str, now: datetime, reason: str) -> Outcome:
    """The operator (or the parent check) saw the key's DS in the parent zone."""
    book = KeyBook(keys)
    book.apply(state.mark_ds_seen(find_key(book.keys, key_ref), now, reason))
    return book.outcome()


def confirm_ds_withdrawn(
    keys: Sequence[KeyRecord], key_ref: str, now: datetime, reason: str
) -> Outcome:
    """The operator (or the parent check) saw the key's DS gone from the parent zone."""
    book = KeyBook(keys)
    book.apply(state.mark_ds_withdrawn(find_key(book.keys, key_ref), now, reason))
    return book.outcome()
