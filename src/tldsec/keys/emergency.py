"""Emergency rollovers (DPS 4.5.3, 6.4): say exactly what will happen, then do it.

A compromised ZSK stops signing at once: the standby key (or a new one) takes over,
the compromised key stays published for the emergency post-publish period (2 days)
and is then removed. A compromised KSK starts a controlled rollover at once: a new
KSK is published and its DS sent to the parent; the switch still waits for the DS to
be seen there (anything else would break the chain of trust) and the old KSK is then
post-published for 7 days. A compromised key that signs nothing leaves the zone now.

The gates every new key waits at hold here too (DPS 5.2.4 backed up before use, 5.2.7
proven on every HSM replica): the replacement is a published key that passes them (the
standby ZSK), else a new key that enters the zone only once it passes them. Until then
the compromised key keeps signing: a zone is never left without a usable key of a role
(RFC 6781 4.4; DPS 4.5.3 asks for speed, not for a zone that fails to validate).

``preview`` lists the steps with their times and what stays at risk; ``execute`` does
the first of them. The rest is ordinary planning (``planner``), where a compromised
key's post-publish period is the emergency one.

Pure: no clock, no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tldsec.errors import KeyManagementError
from tldsec.keys import state, timing
from tldsec.keys.planner import Constraint, Gate, backup_gate, human, key_policy
from tldsec.keys.rollover import KeyBook, KeyFactory, Outcome, active_key, find_key, new_key
from tldsec.keys.state import KeyRecord, KeyState, Role
from tldsec.policy import Policy


@dataclass(frozen=True, slots=True)
class EmergencyPlan:
    """What an emergency rollover of one key will do, and what remains at risk."""

    role: Role
    compromised: KeyRecord
    replacement: KeyRecord | None  # None: a new key will be generated
    replacement_ready: bool  # the replacement is already in every cached DNSKEY RRset
    steps: tuple[str, ...]
    risks: tuple[str, ...]

    def text(self) -> str:
        lines = [f"Emergency rollover of {self.compromised.name} ({self.compromised.key_id}):"]
        lines += [f"  - {s}" for s in self.steps]
        lines.append("What remains at risk:")
        lines += [f"  ! {r}" for r in self.risks]
        return "\n".join(lines)


def _t(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d %H:%M}Z" if when is not None else "-"


def _target(keys: Sequence[KeyRecord], role: Role, now: datetime, key_ref: str | None) -> KeyRecord:
    if key_ref is None:
        key = active_key(keys, role, now, None)
    else:
        key = find_key(keys, key_ref)
        if key.role is not role:
            raise KeyManagementError(f"{key.name} is not a {role}")
    if key.compromised is not None:
        raise KeyManagementError(
            f"{key.name} is already marked compromised (since {_t(key.compromised)}); "
            "see 'tldsec keys plan' for the rollover in progress"
        )
    st = key.state_at(now)
    if st in (KeyState.REMOVED, None):
        raise KeyManagementError(f"{key.name} is {st}: it is not in the zone")
    return key


def all_gates(policy: Policy, gates: Sequence[Gate] = ()) -> Gate:
    """The backup gate and ``gates`` (e.g. the replica proof) as one."""
    every = (backup_gate(policy), *gates)

    def gate(key: KeyRecord) -> tuple[Constraint, ...]:
        return tuple(c for g in every for c in g(key))

    return gate


def _passes(key: KeyRecord, gate: Gate | None) -> bool:
    return gate is None or not gate(key)


def _replacement(
    keys: Sequence[KeyRecord],
    role: Role,
    now: datetime,
    t: timing.TimingParams,
    gate: Gate | None = None,
) -> tuple[KeyRecord | None, bool]:
    """The published successor to use (ready ones first) and whether it is ready; only
    one that passes ``gate`` (backed up, proven on every HSM) may take over."""
    wait = timing.zsk_publish_interval(t) if role is Role.ZSK else timing.ksk_publish_interval(t)
    candidates = sorted(
        (
            k
            for k in keys
            if k.role is role
            and k.compromised is None
            and k.state_at(now) is KeyState.PUBLISHED
            and _passes(k, gate)
        ),
        key=lambda k: k.published or now,
    )
    ready = [k for k in candidates if k.published is not None and k.published + wait <= now]
    if ready:
        return ready[0], True
    return (candidates[0], False) if candidates else (None, False)


def preview(
    keys: Sequence[KeyRecord],
    role: Role,
    policy: Policy,
    t: timing.TimingParams,
    now: datetime,
    key_ref: str | None = None,
    gates: Sequence[Gate] = (),
) -> EmergencyPlan:
    """The emergency rollover of ``key_ref`` (default: the active key of ``role``)."""
    gate = all_gates(policy, gates)
    # A key made now waits at a gate: it has no backup yet, and no HSM proved it.
    fresh_waits = policy.backup_before_use or bool(gates)
    target = _target(keys, role, now, key_ref)
    kp = key_policy(policy, role)
    st = target.state_at(now)
    cache = t.dnskey_ttl + t.propagation_delay
    if st is not KeyState.ACTIVE:
        return _preview_idle(target, st, kp.emergency_postpublish, t, now, cache)
    if role is Role.ZSK:
        return _preview_zsk(keys, target, policy, t, now, cache, gate, fresh_waits)
    return _preview_ksk(keys, target, policy, t, now, gate, fresh_waits)


def _preview_zsk(
    keys: Sequence[KeyRecord],
    target: KeyRecord,
    policy: Policy,
    t: timing.TimingParams,
    now: datetime,
    cache: timedelta,
    gate: Gate,
    fresh_waits: bool,
) -> EmergencyPlan:
    kp = policy.zsk
    new, ready = _replacement(keys, Role.ZSK, now, t, gate)
    ipub = timing.zsk_publish_interval(t)
    removal = now + max(kp.emergency_postpublish, timing.zsk_retire_interval(t))
    if new is None and fresh_waits:
        take_over = (
            "a new ZSK is generated; it is published and signs only once it passes the "
            "gates of every new key (backed up, proven on every HSM: DPS 5.2.4, 5.2.7), "
            f"and {target.name} keeps signing until then"
        )
    elif new is None:
        take_over = "a new ZSK is generated and published, and signs at once"
    elif ready:
        take_over = f"standby {new.name} (published {_t(new.published)}) takes over signing"
    else:
        take_over = f"{new.name} (published only {_t(new.published)}) takes over signing"
    steps = [
        f"now ({_t(now)}): {target.name} is marked compromised and stops "
        f"signing; {take_over}; the next cycle re-signs every RRset without {target.name}",
        f"{_t(removal)}: {target.name} leaves the DNSKEY RRset (emergency "
        f"post-publish {human(kp.emergency_postpublish)}, DPS 6.4)",
    ]
    if kp.standby:
        steps.append("now: a new standby ZSK is published for the next emergency (DPS 4.5.3)")
    risks = [
        f"until {_t(removal + cache)} ({target.name} removed, then cached DNSKEY "
        f"RRsets expired after {human(cache)}), whoever holds {target.name}'s private key can "
        "sign data that validates",
        f"signatures already made with {target.name} stay valid until they expire (at most "
        f"{human(policy.signatures.validity_max)}); they validate only while {target.name} is "
        "in a DNSKEY RRset a resolver holds",
    ]
    if not ready:
        since = now if new is None or new.published is None else new.published
        risks.append(
            f"the replacement key is not yet in every cached DNSKEY RRset (that takes "
            f"Ipub = {human(ipub)}): resolvers that cached the DNSKEY RRset before "
            f"{_t(since)} will fail to validate the zone's new signatures until "
            f"{_t(since + ipub)}. Keep a standby ZSK (policy zsk.standby) "
            "to avoid this."
        )
    return EmergencyPlan(Role.ZSK, target, new, ready, tuple(steps), tuple(risks))


def _preview_ksk(
    keys: Sequence[KeyRecord],
    target: KeyRecord,
    policy: Policy,
    t: timing.TimingParams,
    now: datetime,
    gate: Gate,
    fresh_waits: bool,
) -> EmergencyPlan:
    kp = policy.ksk
    new, ready = _replacement(keys, Role.KSK, now, t, gate)
    ipubp = timing.ds_publish_interval(t)
    iret = timing.ksk_retire_interval(t)
    who = new.name if new is not None else "a new KSK"
    if new is not None and new.ds_seen is not None:
        ds_step = f"its DS is already in the parent zone (seen {_t(new.ds_seen)})"
    elif new is not None and new.ds_submitted is not None:
        ds_step = (
            f"its DS was submitted {_t(new.ds_submitted)}; when it is in the root zone, "
            f"run 'tldsec keys ds-seen {new.key_tag}' (or let the parent check see it)"
        )
    else:
        ds_step = (
            f"after {human(timing.zone_propagation_interval(t))} its DS is produced: send it "
            "to IANA ('tldsec keys export-ds'), and when it is in the root zone run "
            "'tldsec keys ds-seen' (or let the parent check see it)"
        )
    steps = (
        f"now ({_t(now)}): {target.name} is marked compromised; {who} "
        + (
            "is already published"
            if new is not None
            else "is generated, and published once backed up and proven on every HSM "
            "(DPS 5.2.4, 5.2.7)"
            if fresh_waits
            else "is generated and published now"
        ),
        ds_step,
        f"{human(ipubp)} after ds-seen (DprpP + TTLds): {who} signs the DNSKEY RRset and "
        f"{target.name} stops; the switch cannot come earlier without breaking the chain "
        "of trust",
        f"{human(iret)} after the switch: withdrawal of {target.name}'s DS is requested "
        "from the parent",
        f"{human(max(kp.emergency_postpublish, iret))} after the switch: {target.name} leaves "
        f"the DNSKEY RRset (emergency post-publish {human(kp.emergency_postpublish)}, DPS 6.4)",
    )
    risks = (
        f"{target.name} keeps signing the DNSKEY RRset until the switch: at the earliest "
        f"{human(timing.zone_propagation_interval(t) + ipubp)} from now if the parent adds "
        "the new DS at once; IANA's processing time comes on top",
        f"until {target.name}'s DS is gone from the root zone and its TTL "
        f"({human(t.parent_ds_ttl)}) has passed, whoever holds {target.name}'s private key "
        "can forge a DNSKEY RRset that validates, and with it any data of the zone",
    )
    return EmergencyPlan(Role.KSK, target, new, ready, steps, risks)


def _preview_idle(
    target: KeyRecord,
    st: KeyState | None,
    emergency_post: timedelta,
    t: timing.TimingParams,
    now: datetime,
    cache: timedelta,
) -> EmergencyPlan:
    steps: list[str] = [f"now ({_t(now)}): {target.name} is marked compromised"]
    risks: list[str] = []
    if st is KeyState.RETIRED:
        assert target.retired is not None
        end = target.retired + emergency_post
        steps.append(
            f"it signs nothing already; its post-publish period is cut to the emergency "
            f"{human(emergency_post)} (DPS 6.4): it leaves the DNSKEY RRset at about "
            f"{_t(end)} (not before the RFC 7583 retire interval)"
        )
        risks.append(
            f"until it has left the DNSKEY RRset and cached copies expired ({human(cache)} "
            "later), whoever holds its private key can sign data that validates"
        )
    else:
        steps.append("it signs nothing: it leaves the zone now (no validation depends on it)")
        if st is KeyState.PUBLISHED:
            risks.append(
                f"it was in the DNSKEY RRset: until cached copies expire "
                f"({_t(now + cache)}) whoever holds its private key can sign "
                "data that validates"
            )
    if target.role is Role.KSK and target.ds_submitted and not target.ds_withdrawal_requested:
        steps.append("its DS withdrawal is requested from the parent now")
        risks.append(
            f"if its DS reached the parent zone, it is trusted until the DS is gone and its "
            f"TTL ({human(t.parent_ds_ttl)}) has passed"
        )
    if not risks:
        risks.append("nothing: the key was never in the zone")
    return EmergencyPlan(target.role, target, None, True, tuple(steps), tuple(risks))


def execute(
    keys: Sequence[KeyRecord],
    role: Role,
    policy: Policy,
    t: timing.TimingParams,
    now: datetime,
    factory: KeyFactory,
    reason: str,
    key_ref: str | None = None,
    gates: Sequence[Gate] = (),
) -> Outcome:
    """Do now what ``preview`` announces for now; the planner does the rest.

    A new key that does not pass the backup gate and ``gates`` is generated only: the
    planner introduces it (and, for a ZSK, switches to it) once it passes them, and the
    compromised key keeps its role until then."""
    gate = all_gates(policy, gates)
    target = _target(keys, role, now, key_ref)
    st = target.state_at(now)
    book = KeyBook(keys)
    why = f"emergency rollover (DPS 4.5.3): {reason}"
    target = book.apply(state.mark_compromised(target, now, why))
    if st is KeyState.ACTIVE:
        new, _ready = _replacement(book.keys, role, now, t, gate)
        if new is None:
            new = new_key(book, role, now, factory, why, policy)
            if gate(new):
                # DPS 5.2.4, 5.2.7: not published unbacked or unproven; the compromised
                # key keeps signing until the planner switches (never no usable key).
                return book.outcome()
            new = book.apply(state.publish(new, now, why))
        if role is Role.ZSK:
            # DPS 4.5.3: the compromised ZSK leaves service immediately.
            book.apply(state.activate(new, now, why))
            book.apply(state.retire(target, now, why))
        # A KSK keeps signing until its successor's DS is seen: the planner drives it.
    elif st in (KeyState.GENERATED, KeyState.PUBLISHED):
        if target.role is Role.KSK and target.ds_submitted and not target.ds_withdrawal_requested:
            target = book.apply(state.request_ds_withdrawal(target, now, why))
        book.apply(state.remove(target, now, why))
    return book.outcome()
