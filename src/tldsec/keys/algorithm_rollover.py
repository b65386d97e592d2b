"""The algorithm rollover: RFC 6781 4.1.4, the conservative method, from facts to steps.

``start`` makes a KSK and a ZSK of the new algorithm (the one legitimate way past
``rollover.refuse_algorithm_change``); while the zone's keys have two algorithms the
planner asks ``steps`` instead of planning ordinary rolls. The order, each wait from
``keys/timing.py``:

1. presign: the new keys sign every RRset (the KSK the DNSKEY RRset), their DNSKEYs not
   yet published; old signatures stay. A validator sees no new algorithm yet.
2. publish: once every new signature is in every cache (Dsgn + Dprp + TTLsig), the new
   DNSKEYs enter the zone (RFC 6781 4.1.4 "new DNSKEY": signatures before keys, so no
   cached DNSKEY RRset names an algorithm whose signatures a cache lacks).
3. submit the new KSK's DS once the new DNSKEYs are in every cache (IpubC); ds-seen
   opens only on the validated parent check (or the operator).
4. withdraw the old KSK's DS (both algorithms sign everything, so either DS set
   validates: RFC 4035 2.2, RFC 6840 5.11); ds-gone, again a gate.
5. unpublish the old DNSKEYs once the old DS is gone from every cache and the new DS is
   in every one (DprpP + TTLds after each); old signatures stay.
6. stop the old keys' signatures once no cache holds a DNSKEY RRset with them
   (Dprp + TTLkey): the old keys are retired and removed together.

An old key that does not sign (a standby ZSK, a generated successor) leaves at step 5.
Pure: no clock, no database, no key store (the factory is the only door to one).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tldsec.errors import KeyManagementError, PolicyError
from tldsec.keys import state, timing
from tldsec.keys.planner import Action, Constraint, Gate, Step, human
from tldsec.keys.rollover import KeyBook, KeyFactory, Outcome, new_key
from tldsec.keys.state import KeyRecord, KeyState, Role
from tldsec.policy import Algorithm, Policy

RFC = "RFC 6781 4.1.4"


def algorithms_in_rollover(keys: Sequence[KeyRecord], now: datetime) -> tuple[int, int] | None:
    """(old, new) while the zone's live keys have two algorithms; else None.

    The old algorithm is that of the key active first; three algorithms at once are
    refused (a second rollover cannot start before the first ends)."""
    live = [k for k in keys if k.state_at(now) not in (None, KeyState.REMOVED)]
    algorithms = {int(k.algorithm) for k in live}
    if len(algorithms) < 2:
        return None
    if len(algorithms) > 2:
        raise KeyManagementError(
            f"the zone's keys use algorithms {sorted(algorithms)}: one algorithm rollover at a time"
        )
    signed = sorted((k for k in live if k.active is not None), key=lambda k: k.active or now)
    if not signed:
        raise KeyManagementError("two algorithms among keys of which none ever signed")
    old = int(signed[0].algorithm)
    (new,) = algorithms - {old}
    return old, new


def start(
    keys: Sequence[KeyRecord],
    to: int,
    policy: Policy,
    now: datetime,
    factory: KeyFactory,
    reason: str,
) -> Outcome:
    """Begin the rollover to algorithm ``to``: a new KSK and ZSK of it, generated (the
    planner presigns them once their gates, such as the backup, let them in)."""
    try:
        target = Algorithm(to)
    except ValueError:
        raise KeyManagementError(f"algorithm {to} is not one tldsec signs with") from None
    if algorithms_in_rollover(keys, now) is not None:
        raise KeyManagementError("an algorithm rollover is already under way ('keys plan')")
    live = [k for k in keys if k.state_at(now) not in (None, KeyState.REMOVED)]
    current = {int(k.algorithm) for k in live}
    if not live:
        raise KeyManagementError("the zone has no keys: 'tldsec init' makes the first ones")
    if current == {int(target)}:
        raise KeyManagementError(f"the zone's keys already use algorithm {int(target)}")
    for role in (Role.KSK, Role.ZSK):
        kp = policy.ksk if role is Role.KSK else policy.zsk
        if kp.algorithm is not target:
            raise PolicyError(
                f"{role}.algorithm",
                f"the policy's {role.upper()} algorithm is {int(kp.algorithm)}: set it to "
                f"{int(target)} (with its bits) before the rollover to {int(target)}",
            )
    busy = [f"{k.name}: {why}" for k in live if (why := _unsettled(k, now))]
    if busy:
        names = "; ".join(busy)
        raise KeyManagementError(
            f"a rollover is still in progress ({names}): the algorithm rollover starts "
            "once the zone has one active KSK with its DS seen and no retiring key"
        )
    book = KeyBook(keys)
    why = f"{reason}: algorithm rollover {'/'.join(map(str, sorted(current)))} -> {int(target)}"
    for role in (Role.KSK, Role.ZSK):
        new_key(book, role, now, factory, f"{why} ({RFC})", policy, algorithm_rollover=True)
    return book.outcome()


def _unsettled(key: KeyRecord, now: datetime) -> str | None:
    """Why ``key`` keeps an algorithm rollover from starting now, if it does."""
    current = key.state_at(now)
    if key.compromised is not None:
        return "compromised"
    if current is KeyState.RETIRED:
        return "retiring"
    if key.role is Role.KSK and current is not KeyState.ACTIVE:
        return f"a KSK {current} beside the active one"
    if key.role is Role.KSK and key.ds_seen is None:
        return "its DS is not confirmed in the parent zone (ds-seen)"
    return None


def steps(
    keys: Sequence[KeyRecord],
    pair: tuple[int, int],
    t: timing.TimingParams,
    now: datetime,
    gate: Gate,
) -> list[Step]:
    """The rollover's next steps at ``now`` (see the module's docstring for the order)."""
    old_alg, new_alg = pair
    live = [k for k in keys if k.state_at(now) not in (None, KeyState.REMOVED)]
    new = [k for k in live if int(k.algorithm) == new_alg]
    old = [k for k in live if int(k.algorithm) == old_alg]
    roles = {k.role for k in new}
    if roles != {Role.KSK, Role.ZSK}:
        missing = ", ".join(sorted(str(r) for r in {Role.KSK, Role.ZSK} - roles))
        raise KeyManagementError(
            f"the algorithm rollover to {new_alg} has no new {missing}: "
            "restart it ('tldsec keys algorithm-rollover')"
        )
    out: list[Step] = []
    generated = [k for k in new if k.state_at(now) is KeyState.GENERATED]
    if generated:
        started = min(k.created for k in new)
        for k in generated:
            why = f"the algorithm rollover to {new_alg} started: new keys sign first ({RFC})"
            constraints = (Constraint("algorithm-rollover", why, started), *gate(k))
            out.append(_step(Action.PRESIGN, k, constraints))
        return out
    presigning = [k for k in new if k.state_at(now) is KeyState.PRESIGNING]
    if presigning:
        since = max(k.presigned for k in new if k.presigned is not None)
        wait = timing.signature_cache_interval(t)
        why = (
            f"every RRset's signature by algorithm {new_alg} in every cache before its "
            f"DNSKEYs appear: Dsgn + Dprp + TTLsig = {human(wait)} ({RFC})"
        )
        for k in presigning:
            out.append(_step(Action.PUBLISH, k, (Constraint("new-rrsigs", why, since + wait),)))
        return out
    ksk = next(k for k in new if k.role is Role.KSK)
    old_ksks = [k for k in old if k.role is Role.KSK]
    assert ksk.published is not None
    if ksk.ds_submitted is None:
        wait = timing.ksk_publish_interval(t)
        why = f"{ksk.name} in every cached DNSKEY RRset: IpubC = {human(wait)} (RFC 7583 3.3.1)"
        out.append(
            _step(Action.SUBMIT_DS, ksk, (Constraint("rfc7583-ipubc", why, ksk.published + wait),))
        )
        return out
    if ksk.ds_seen is None:
        why = (
            f"the DS of {ksk.name} confirmed in the parent zone "
            f"('tldsec keys ds-seen {ksk.key_tag}' or the validated parent check)"
        )
        out.append(_step(Action.CONFIRM_DS_SEEN, ksk, (Constraint("ds-seen", why, None),)))
        return out
    ipubp = timing.ds_publish_interval(t)
    for k in old_ksks:
        if k.ds_submitted is not None and k.ds_withdrawal_requested is None:
            why = f"the DS of {ksk.name} is seen: both algorithms sign, either DS set validates"
            out.append(_step(Action.WITHDRAW_DS, k, (Constraint("ds-seen", why, ksk.ds_seen),)))
        elif k.ds_withdrawal_requested is not None and k.ds_withdrawn is None:
            why = (
                f"the DS of {k.name} confirmed gone from the parent zone "
                f"('tldsec keys ds-gone {k.key_tag}' or the validated parent check)"
            )
            out.append(_step(Action.CONFIRM_DS_WITHDRAWN, k, (Constraint("ds-gone", why, None),)))
    if out:
        return out
    new_ds = Constraint(
        "rfc7583-ipubp",
        f"the DS of {ksk.name} in every cached DS RRset: IpubP = {human(ipubp)} after ds-seen",
        ksk.ds_seen + ipubp,
    )
    gone = [
        Constraint(
            "old-ds-expired",
            f"the DS of {k.name} gone from every cache: DprpP + TTLds = {human(ipubp)} "
            "after ds-gone",
            k.ds_withdrawn + ipubp,
        )
        for k in old_ksks
        if k.ds_withdrawn is not None
    ]
    wait = timing.dnskey_cache_interval(t)
    for k in old:
        now_state = k.state_at(now)
        if now_state is KeyState.ACTIVE:
            out.append(_step(Action.UNPUBLISH, k, (new_ds, *gone)))
        elif now_state is KeyState.UNPUBLISHED:
            assert k.unpublished is not None
            why = (
                f"no cached DNSKEY RRset holds {k.name}: Dprp + TTLkey = {human(wait)} "
                f'after its DNSKEY left ({RFC} "RRSIG removal")'
            )
            out.append(
                _step(Action.REMOVE, k, (Constraint("dnskey-expired", why, k.unpublished + wait),))
            )
        else:  # a standby or generated key of the old algorithm: it signs nothing
            out.append(_step(Action.REMOVE, k, (new_ds, *gone)))
    return out


def _step(action: Action, key: KeyRecord, constraints: tuple[Constraint, ...]) -> Step:
    return Step(action, key.role, key.key_id, key.key_tag, constraints, algorithm_rollover=True)


def apply(keys: Sequence[KeyRecord], step: Step, now: datetime, reason: str) -> Outcome:
    """Carry out one due step of the rollover."""
    assert step.key_id is not None
    book = KeyBook(keys)
    key = book.get(step.key_id)
    if step.action is Action.PRESIGN:
        book.apply(state.presign(key, now, reason))
    elif step.action is Action.PUBLISH:
        record, transitions = state.publish_presigned(key, now, reason)
        _apply_many(book, record, transitions)
    elif step.action is Action.SUBMIT_DS:
        book.apply(state.submit_ds(key, now, reason))
    elif step.action is Action.WITHDRAW_DS:
        book.apply(state.request_ds_withdrawal(key, now, reason, replaced=True))
    elif step.action is Action.UNPUBLISH:
        book.apply(state.unpublish(key, now, reason))
    elif step.action is Action.REMOVE and key.state_at(now) is KeyState.UNPUBLISHED:
        record, transitions = state.stop_signing(key, now, reason)
        _apply_many(book, record, transitions)
    elif step.action is Action.REMOVE:
        book.apply(state.remove(key, now, reason))
    else:
        raise KeyManagementError(f"{step.describe()} is not a step of an algorithm rollover")
    return book.outcome()


def _apply_many(book: KeyBook, record: KeyRecord, transitions: Sequence[state.Transition]) -> None:
    book.keys = [record if k.key_id == record.key_id else k for k in book.keys]
    book.transitions.extend(transitions)
