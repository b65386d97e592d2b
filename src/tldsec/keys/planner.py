"""The planner: from key facts, policy and now, the next steps, when each is due, and why.

Each ``Step`` carries the constraints it waits for: a DPS period, an RFC 7583 interval,
or a gate only a person (or the parent check) can open, such as ``ds-seen``. The step's
due time is the latest of its constraints; a step behind an open gate has no due time
and says which gate holds it, so a rollover is never stuck on a step nobody can see.

Pure: no clock, no database, no key store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tldsec.keys import timing
from tldsec.keys.state import KeyRecord, KeyState, Role
from tldsec.policy import KeyPolicy, Policy


class Action(StrEnum):
    """What a step does."""

    BOOTSTRAP = "bootstrap"  # create the zone's first keys (tldsec init)
    PUBLISH = "publish"  # put a successor into the DNSKEY RRset (generating it if needed)
    SUBMIT_DS = "submit-ds"  # produce the successor KSK's DS for the parent
    CONFIRM_DS_SEEN = "ds-seen"  # gate: the DS is in the parent zone
    SWITCH = "switch"  # the successor starts signing, its predecessor retires
    WITHDRAW_DS = "withdraw-ds"  # ask the parent to remove a retired KSK's DS
    CONFIRM_DS_WITHDRAWN = "ds-gone"  # gate: the DS is gone from the parent zone
    REMOVE = "remove"  # take a key out of the DNSKEY RRset for good
    # Algorithm rollover (RFC 6781 4.1.4, keys/algorithm_rollover.py):
    PRESIGN = "presign"  # a new algorithm's key signs before its DNSKEY is published
    UNPUBLISH = "unpublish"  # an old algorithm's DNSKEY leaves; its signatures stay
    # Going insecure (DPS 4.6, keys/go_insecure.py):
    UNSIGN = "unsign"  # stop signing: the zone is published unsigned, every key retires


@dataclass(frozen=True, slots=True)
class Constraint:
    """One thing a step waits for: a time, or (``until`` None) an open gate."""

    name: str
    description: str
    until: datetime | None

    @property
    def is_gate(self) -> bool:
        return self.until is None


@dataclass(frozen=True, slots=True)
class Step:
    """One planned action on one key, and everything it waits for."""

    action: Action
    role: Role
    key_id: str | None  # None: a key still to be generated
    key_tag: int | None
    constraints: tuple[Constraint, ...]
    predecessor_id: str | None = None
    predecessor_tag: int | None = None
    emergency: bool = False
    algorithm_rollover: bool = False  # a step of keys/algorithm_rollover.py

    def __post_init__(self) -> None:
        if not self.constraints:
            raise ValueError("a step waits for at least one constraint")

    @property
    def due(self) -> datetime | None:
        """When the step may run; None while a gate is open."""
        if any(c.is_gate for c in self.constraints):
            return None
        return max(c.until for c in self.constraints if c.until is not None)

    @property
    def waiting_for(self) -> Constraint:
        """The constraint that decides the due time (an open gate first)."""
        gates = [c for c in self.constraints if c.is_gate]
        if gates:
            return gates[0]
        return max(self.constraints, key=lambda c: c.until or datetime.min)

    def is_due(self, now: datetime) -> bool:
        due = self.due
        return due is not None and due <= now

    @property
    def subject(self) -> str:
        """The key(s) the step is about, as people say it."""
        key = f"{self.role} {self.key_tag}" if self.key_tag is not None else f"new {self.role}"
        if self.predecessor_tag is not None:
            return f"{self.role} {self.predecessor_tag} -> {self.key_tag}"
        return key

    def describe(self) -> str:
        what = {
            Action.BOOTSTRAP: (
                "create the first keys" if self.key_id is None else "publish and activate"
            ),
            Action.PUBLISH: "publish",
            Action.SUBMIT_DS: "submit the DS of",
            Action.CONFIRM_DS_SEEN: "confirm the DS in the parent of",
            Action.SWITCH: "switch signing",
            Action.WITHDRAW_DS: "request DS withdrawal of",
            Action.CONFIRM_DS_WITHDRAWN: "confirm the DS gone from the parent of",
            Action.REMOVE: "remove",
            Action.PRESIGN: "sign with (DNSKEY not yet published)",
            Action.UNPUBLISH: "unpublish the DNSKEY of (still signing)",
            Action.UNSIGN: "stop signing: publish the zone unsigned, retire every key",
        }[self.action]
        if self.action is Action.UNSIGN:
            return what
        prefix = "EMERGENCY " if self.emergency else ""
        return f"{prefix}{what} {self.subject}"


@dataclass(frozen=True, slots=True)
class Plan:
    """All steps planned at ``now``: timed ones by due time, then those behind gates."""

    now: datetime
    steps: tuple[Step, ...]

    def due_steps(self, now: datetime | None = None) -> tuple[Step, ...]:
        at = now or self.now
        return tuple(s for s in self.steps if s.is_due(at))

    @property
    def gates(self) -> tuple[Step, ...]:
        """Steps held by a gate only a person or the parent check can open."""
        return tuple(s for s in self.steps if s.due is None)

    def next_wakeup(self) -> datetime | None:
        """The earliest due time still in the future (or now); None if all wait on gates."""
        times = [s.due for s in self.steps if s.due is not None]
        return min(times) if times else None


def plan(
    keys: Sequence[KeyRecord],
    policy: Policy,
    t: timing.TimingParams,
    now: datetime,
    gates: Sequence[Gate] = (),
    insecure_since: datetime | None = None,
    ksk_stagger: Constraint | None = None,
) -> Plan:
    """Every step the key set needs from ``now`` on; ``gates`` (facts from outside the
    records, such as the replica proof) hold keys out of the zone like the backup gate;
    ``ksk_stagger`` (``keys/stagger.py``) holds a scheduled KSK publication away from
    another zone's DS changes.
    While the zone's keys have two algorithms, the steps are those of the algorithm
    rollover (``keys/algorithm_rollover.py``). Since ``insecure_since`` (the zone is
    going unsigned, ``keys/go_insecure.py``) the KSKs follow only those steps; the ZSKs
    roll as usual, the zone being signed until the last step."""
    # Imported here: these modules build their steps from this module's classes.
    from tldsec.keys import algorithm_rollover, go_insecure

    steps: list[Step] = []
    pair = algorithm_rollover.algorithms_in_rollover(keys, now)
    if insecure_since is not None:
        unsigned = go_insecure.unsigned_at(keys, insecure_since)
        if unsigned is not None and unsigned <= now:
            return Plan(now=now, steps=())  # unsigned: nothing left to do (DPS 4.6)
        ksks = [k for k in keys if k.role is Role.KSK]
        for k in ksks:
            steps.extend(_retiring_steps(k, policy.ksk, t, now))
        steps.extend(go_insecure.steps(keys, insecure_since, t, now))
        steps.extend(_role_steps(keys, Role.ZSK, policy, t, now, gates))
    elif pair is not None:
        gate = all_of((backup_gate(policy), *gates))
        steps.extend(algorithm_rollover.steps(keys, pair, t, now, gate))
    else:
        for role in (Role.KSK, Role.ZSK):
            steps.extend(_role_steps(keys, role, policy, t, now, gates))
    if ksk_stagger is not None:
        steps = [_staggered(s, ksk_stagger) for s in steps]
    timed = sorted((s for s in steps if s.due is not None), key=lambda s: s.due or now)
    gated = [s for s in steps if s.due is None]
    return Plan(now=now, steps=(*timed, *gated))


def _staggered(step: Step, wait: Constraint) -> Step:
    """A scheduled KSK publication also waits for ``wait`` (never an emergency one); a
    ``wait`` before its schedule advances it (decision 68): it replaces the schedule."""
    if step.role is not Role.KSK or step.action is not Action.PUBLISH or step.emergency:
        return step
    if wait.until is not None and step.due is not None and wait.until < step.due:
        kept = tuple(c for c in step.constraints if c.name != "schedule")
        return dataclasses.replace(step, constraints=(wait, *kept))
    return dataclasses.replace(step, constraints=(*step.constraints, wait))


def key_policy(policy: Policy, role: Role) -> KeyPolicy:
    return policy.ksk if role is Role.KSK else policy.zsk


def human(delta: timedelta) -> str:
    """A duration as people write it: ``30 days``, ``13 h``, ``26 h 15 min``."""
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0 and seconds:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours} h {minutes} min"
    if hours:
        return f"{hours} h"
    return f"{minutes} min"


def lifetime_end(key: KeyRecord, kp: KeyPolicy) -> tuple[datetime, str]:
    """When an active key's rollover is due, and why (its DPS lifetime or a request)."""
    assert key.active is not None
    end = key.active + kp.lifetime
    why = f"{key.name} has signed for its lifetime of {human(kp.lifetime)} (DPS 6.4)"
    if key.rollover_requested is not None and key.rollover_requested < end:
        return key.rollover_requested, f"rollover of {key.name} requested"
    return end, why


# The gates a key waits at before it may enter the zone, besides the schedule.
Gate = Callable[[KeyRecord], tuple[Constraint, ...]]


def backup_gate(policy: Policy) -> Gate:
    """DPS 5.2.4 (``keystore.backup_before_use``): a key is published or signs only once
    a checked archive under the SMK holds it; until then it waits, visibly."""

    def gate(key: KeyRecord) -> tuple[Constraint, ...]:
        if not policy.backup_before_use or key.backed_up is not None:
            return ()
        return (
            Constraint(
                "backup",
                f"backup: an archive under the SMK holding {key.name}, written "
                "and checked ('tldsec backup keys', DPS 5.2.4)",
                None,
            ),
        )

    return gate


def ready_gate(name: str, ready: frozenset[str], waiting: str) -> Gate:
    """A gate held open for every key whose id is not in ``ready``: e.g. the keys every
    HSM proved it holds (``hsm/replicas.py``); ``{key}`` in ``waiting`` names the key."""

    def gate(key: KeyRecord) -> tuple[Constraint, ...]:
        if key.key_id in ready:
            return ()
        return (Constraint(name, waiting.replace("{key}", key.name), None),)

    return gate


def all_of(gates: Sequence[Gate]) -> Gate:
    def gate(key: KeyRecord) -> tuple[Constraint, ...]:
        return tuple(c for g in gates for c in g(key))

    return gate


def _role_steps(
    keys: Sequence[KeyRecord],
    role: Role,
    policy: Policy,
    t: timing.TimingParams,
    now: datetime,
    gates: Sequence[Gate] = (),
) -> list[Step]:
    kp = key_policy(policy, role)
    gate = all_of((backup_gate(policy), *gates))
    mine = [k for k in keys if k.role is role]
    live = [k for k in mine if k.state_at(now) not in (KeyState.REMOVED, None)]
    steps: list[Step] = []

    for k in live:
        steps.extend(_retiring_steps(k, kp, t, now))

    active = sorted((k for k in live if k.state_at(now) is KeyState.ACTIVE), key=_active_time)
    first = sorted(
        (k for k in live if k.state_at(now) is KeyState.GENERATED and k.compromised is None),
        key=lambda k: k.created,
    )
    if not active and first:
        # The zone's first key of the role, made by 'tldsec init' and not yet in the zone
        # because it had to be backed up first (DPS 5.2.4).
        key = first[0]
        why = f"{key.name} is the zone's first {role}: it enters the zone and signs at once"
        steps.append(
            Step(
                Action.BOOTSTRAP,
                role,
                key.key_id,
                key.key_tag,
                gate(key) or (Constraint("first-key", why, now),),
            )
        )
        return steps
    if not active:
        steps.append(
            Step(
                Action.BOOTSTRAP,
                role,
                None,
                None,
                (
                    Constraint(
                        "bootstrap",
                        f"no active {role}: create the first keys with 'tldsec init'",
                        None,
                    ),
                ),
            )
        )
        return steps
    current = active[-1]
    # A compromised key that does not sign leaves the zone at once (DPS 4.5.3).
    for k in live:
        if k.compromised is not None and k.state_at(now) in (
            KeyState.GENERATED,
            KeyState.PUBLISHED,
        ):
            steps.append(
                Step(
                    Action.REMOVE,
                    role,
                    k.key_id,
                    k.key_tag,
                    (Constraint("compromised", f"{k.name} is compromised", k.compromised),),
                    emergency=True,
                )
            )
    usable = [k for k in live if k.compromised is None]
    successors = sorted(
        (k for k in usable if k.state_at(now) is KeyState.PUBLISHED), key=_published_time
    )
    generated = sorted(
        (k for k in usable if k.state_at(now) is KeyState.GENERATED), key=lambda k: k.created
    )
    if role is Role.KSK:
        steps.extend(_ksk_steps(current, successors, generated, kp, t, now, gate))
    else:
        steps.extend(_zsk_steps(current, successors, generated, kp, t, now, gate))
    return steps


def _active_time(k: KeyRecord) -> datetime:
    assert k.active is not None
    return k.active


def _published_time(k: KeyRecord) -> datetime:
    assert k.published is not None
    return k.published


def _publish_step(
    role: Role,
    generated: list[KeyRecord],
    constraint: Constraint,
    gate: Gate,
    emergency: bool = False,
) -> Step:
    key = generated[0] if generated else None
    return Step(
        Action.PUBLISH,
        role,
        key.key_id if key else None,
        key.key_tag if key else None,
        (constraint, *(gate(key) if key else ())),
        emergency=emergency,
    )


def _zsk_steps(
    current: KeyRecord,
    successors: list[KeyRecord],
    generated: list[KeyRecord],
    kp: KeyPolicy,
    t: timing.TimingParams,
    now: datetime,
    gate: Gate,
) -> list[Step]:
    end, end_why = lifetime_end(current, kp)
    ipub = timing.zsk_publish_interval(t)
    if current.compromised is not None:
        return _zsk_emergency_steps(current, successors, generated, gate)
    if not successors:
        if kp.standby:
            when = now
            why = "policy keeps a standby ZSK pre-published for emergencies (DPS 4.5.3)"
        else:
            lead = max(kp.prepublish, ipub)
            when = max(end - lead, now)
            why = f"pre-publish {human(lead)} before {current.name}'s rollover (DPS 6.4)"
        return [_publish_step(Role.ZSK, generated, Constraint("schedule", why, when), gate)]
    new = successors[0]
    assert new.published is not None
    constraints = (
        Constraint("lifetime", end_why, end),
        Constraint(
            "dps-prepublish",
            f"{new.name} pre-published for {human(kp.prepublish)} (DPS 6.4)",
            new.published + kp.prepublish,
        ),
        Constraint(
            "rfc7583-ipub",
            f"{new.name} in every cached DNSKEY RRset: Ipub = Dprp + TTLkey = "
            f"{human(ipub)} (RFC 7583 3.2.1)",
            new.published + ipub,
        ),
        *gate(new),
    )
    return [
        Step(
            Action.SWITCH,
            Role.ZSK,
            new.key_id,
            new.key_tag,
            constraints,
            predecessor_id=current.key_id,
            predecessor_tag=current.key_tag,
        )
    ]


def _zsk_emergency_steps(
    current: KeyRecord, successors: list[KeyRecord], generated: list[KeyRecord], gate: Gate
) -> list[Step]:
    """A compromised ZSK still signs only because its replacement waited at a gate
    (backup, replica proof): publish it and switch to it the moment it passes them
    (DPS 4.5.3), as the emergency rollover itself would have done."""
    why = f"{current.name} is compromised: its replacement takes over at once (DPS 4.5.3)"
    now_c = Constraint("compromised", why, current.compromised)
    # The first successor that passed the gates; else a key made for the emergency is
    # published once it passes (a standby some HSM lacks does not block it).
    passed = [k for k in successors if not gate(k)]
    if not passed and (generated or not successors):
        return [_publish_step(Role.ZSK, generated, now_c, gate, emergency=True)]
    new = (passed or successors)[0]
    return [
        Step(
            Action.SWITCH,
            Role.ZSK,
            new.key_id,
            new.key_tag,
            (now_c, *gate(new)),
            predecessor_id=current.key_id,
            predecessor_tag=current.key_tag,
            emergency=True,
        )
    ]


def _ksk_steps(
    current: KeyRecord,
    successors: list[KeyRecord],
    generated: list[KeyRecord],
    kp: KeyPolicy,
    t: timing.TimingParams,
    now: datetime,
    gate: Gate,
) -> list[Step]:
    steps: list[Step] = []
    emergency = current.compromised is not None
    if current.ds_submitted is None:
        steps.append(
            Step(
                Action.SUBMIT_DS,
                Role.KSK,
                current.key_id,
                current.key_tag,
                (Constraint("no-ds", f"{current.name} signs but has no DS at the parent", now),),
            )
        )
    elif current.ds_seen is None and current.ds_withdrawal_requested is None:
        steps.append(_ds_seen_gate(current))
    end, end_why = lifetime_end(current, kp)
    ipubc = timing.ksk_publish_interval(t)
    ipubp = timing.ds_publish_interval(t)
    if not successors:
        if emergency:
            when, why = now, f"{current.name} is compromised: controlled rollover now (DPS 4.5.3)"
        else:
            lead = max(kp.prepublish, ipubc + ipubp)
            when = max(end - lead, now)
            why = f"pre-publish {human(lead)} before {current.name}'s rollover (DPS 6.4)"
        steps.append(
            _publish_step(Role.KSK, generated, Constraint("schedule", why, when), gate, emergency)
        )
        return steps
    new = successors[0]
    assert new.published is not None
    if new.ds_submitted is None:
        if emergency:
            wait = timing.zone_propagation_interval(t)
            why = f"{new.name} on every name server (Dprp = {human(wait)}) before its DS is sent"
        else:
            wait = ipubc
            why = (
                f"{new.name} in every cached DNSKEY RRset before its DS is sent: "
                f"IpubC = DprpC + TTLkey = {human(wait)} (RFC 7583 3.3.1)"
            )
        steps.append(
            Step(
                Action.SUBMIT_DS,
                Role.KSK,
                new.key_id,
                new.key_tag,
                (Constraint("rfc7583-ipubc", why, new.published + wait), *gate(new)),
                emergency=emergency,
            )
        )
    elif new.ds_seen is None:
        steps.append(_ds_seen_gate(new))
    constraints: list[Constraint] = []
    if not emergency:
        lead = max(kp.prepublish, ipubc + ipubp)
        if current.rollover_requested is None and new.published + lead < end:
            # Published ahead of its schedule: a staggered roll brought forward (decision
            # 68); the switch follows the publication by the lead, not the lifetime.
            end = new.published + lead
            end_why = (
                f"{new.name} was published ahead of {current.name}'s lifetime (a staggered "
                f"KSK roll brought forward): the switch {human(lead)} after it"
            )
        constraints.append(Constraint("lifetime", end_why, end))
        constraints.append(
            Constraint(
                "dps-prepublish",
                f"{new.name} pre-published for {human(kp.prepublish)} (DPS 6.4)",
                new.published + kp.prepublish,
            )
        )
    constraints.append(
        Constraint(
            "rfc7583-ipubc",
            f"{new.name} in every cached DNSKEY RRset: IpubC = {human(ipubc)} (RFC 7583 3.3.1)",
            new.published + ipubc,
        )
    )
    if new.ds_seen is None:
        constraints.append(
            Constraint(
                "ds-seen",
                f"the DS of {new.name} confirmed in the parent zone "
                f"('tldsec keys ds-seen {new.key_tag}' or the parent check)",
                None,
            )
        )
    else:
        constraints.append(
            Constraint(
                "rfc7583-ipubp",
                f"the DS of {new.name} in every cached DS RRset: IpubP = DprpP + TTLds = "
                f"{human(ipubp)} after ds-seen (RFC 7583 3.3.1)",
                new.ds_seen + ipubp,
            )
        )
    constraints.extend(gate(new))
    steps.append(
        Step(
            Action.SWITCH,
            Role.KSK,
            new.key_id,
            new.key_tag,
            tuple(constraints),
            predecessor_id=current.key_id,
            predecessor_tag=current.key_tag,
            emergency=emergency,
        )
    )
    return steps


def _ds_seen_gate(key: KeyRecord) -> Step:
    return Step(
        Action.CONFIRM_DS_SEEN,
        Role.KSK,
        key.key_id,
        key.key_tag,
        (
            Constraint(
                "ds-seen",
                f"the DS of {key.name} confirmed in the parent zone "
                f"('tldsec keys ds-seen {key.key_tag}' or the parent check)",
                None,
            ),
        ),
    )


def _retiring_steps(
    key: KeyRecord, kp: KeyPolicy, t: timing.TimingParams, now: datetime
) -> list[Step]:
    if key.state_at(now) is not KeyState.RETIRED:
        return []
    assert key.retired is not None
    steps: list[Step] = []
    if key.compromised is not None:
        post, post_why = kp.emergency_postpublish, "emergency post-publish"
    else:
        post, post_why = kp.postpublish, "post-publish"
    constraints = [
        Constraint(
            "dps-postpublish",
            f"{key.name} {post_why} for {human(post)} (DPS 6.4)",
            key.retired + post,
        )
    ]
    if key.role is Role.ZSK:
        iret = timing.zsk_retire_interval(t)
        constraints.append(
            Constraint(
                "rfc7583-iret",
                f"no cache holds a signature by {key.name}: Iret = Dsgn + Dprp + TTLsig = "
                f"{human(iret)} (RFC 7583 3.2.1)",
                key.retired + iret,
            )
        )
    else:
        iret = timing.ksk_retire_interval(t)
        dnskey_gone = Constraint(
            "rfc7583-iret",
            f"no cached DNSKEY RRset is signed only by {key.name}: Dsgn + DprpC + TTLkey = "
            f"{human(iret)} (RFC 7583 3.3.2)",
            key.retired + iret,
        )
        constraints.append(dnskey_gone)
        if key.ds_submitted is not None and key.ds_withdrawal_requested is None:
            steps.append(
                Step(
                    Action.WITHDRAW_DS,
                    Role.KSK,
                    key.key_id,
                    key.key_tag,
                    (dnskey_gone,),
                    emergency=key.compromised is not None,
                )
            )
            constraints.append(
                Constraint(
                    "ds-withdrawal",
                    f"the withdrawal of {key.name}'s DS requested first",
                    key.retired + iret,
                )
            )
        elif key.ds_withdrawal_requested is not None and key.ds_withdrawn is None:
            steps.append(
                Step(
                    Action.CONFIRM_DS_WITHDRAWN,
                    Role.KSK,
                    key.key_id,
                    key.key_tag,
                    (
                        Constraint(
                            "ds-gone",
                            f"the DS of {key.name} confirmed gone from the parent zone "
                            f"('tldsec keys ds-gone {key.key_tag}' or the parent check)",
                            None,
                        ),
                    ),
                )
            )
    steps.append(
        Step(
            Action.REMOVE,
            key.role,
            key.key_id,
            key.key_tag,
            tuple(constraints),
            emergency=key.compromised is not None,
        )
    )
    return steps
