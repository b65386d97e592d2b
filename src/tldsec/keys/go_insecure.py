"""Going insecure: DPS 4.6 "orderly" termination of DNSSEC, RFC 6781 4.4 in reverse order.

A validator that holds a DS for the zone rejects an unsigned answer, so the zone stays
signed until no cache can hold a DS of it. The order, each wait from ``keys/timing.py``:

1. ``start``: the parent is asked to withdraw every KSK's DS (the intent itself, its
   audit record and the public notice are the key manager's, ``keys/service.py``).
   The keys keep signing; no KSK rollover starts meanwhile (a new KSK would bring a DS).
2. ds-gone, for every KSK: a gate opened only by the validated parent check
   (``keys check-parent``) or by an operator (``keys ds-gone``).
3. the parent's DS TTL after the last ds-gone: DprpP + TTLds + safety margin
   (``timing.ds_publish_interval``), so no cache holds a DS of the zone.
4. ``unsign``, the last step: every key retires and leaves the zone at once (its facts
   move forward; the HSM objects are kept, DPS 5.2.10). The key manager records the
   zone fact ``unsigned_since`` in the same transaction; from it the cycle publishes
   the zone without DNSKEY, RRSIG, NSEC3, NSEC3PARAM and NSEC, and the gate verifies
   it as insecure by design (decision 46).

``cancel`` (before step 4) returns to the normal flow: a withdrawn DS is never
re-submitted for the same key (its facts only move forward), so the active KSK is
rolled and its successor's DS goes to the parent the usual way. After step 4 there is
nothing to cancel: signing again is a fresh start (new KSK and ZSK, a new DS).
Pure: no clock, no database, no key store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tldsec.errors import KeyManagementError
from tldsec.keys import algorithm_rollover, state, timing
from tldsec.keys.planner import Action, Constraint, Step, human
from tldsec.keys.rollover import KeyBook, Outcome
from tldsec.keys.state import DsState, KeyRecord, KeyState, Role

RFC = "DPS 4.6, RFC 6781 4.4"
FRESH_START = (
    "signing again is a fresh start, as the first signing was: new KSK and ZSK and a new "
    "DS at the parent (docs/operations.md 'Going insecure'; not built into tldsec yet)"
)


def _live_ksks(keys: Sequence[KeyRecord], now: datetime) -> list[KeyRecord]:
    return [
        k for k in keys if k.role is Role.KSK and k.state_at(now) not in (None, KeyState.REMOVED)
    ]


def start(keys: Sequence[KeyRecord], now: datetime, reason: str) -> Outcome:
    """Ask the parent to withdraw every DS of the zone; the keys keep signing."""
    if algorithm_rollover.algorithms_in_rollover(keys, now) is not None:
        raise KeyManagementError(
            "an algorithm rollover is under way ('keys plan'): finish it before going insecure"
        )
    ksks = _live_ksks(keys, now)
    if not any(k.state_at(now) is KeyState.ACTIVE for k in ksks):
        raise KeyManagementError("the zone has no active KSK: there is nothing to go insecure from")
    busy = [k.name for k in ksks if k.state_at(now) not in (KeyState.ACTIVE, KeyState.RETIRED)]
    if busy:
        raise KeyManagementError(
            f"a KSK rollover is in progress ({', '.join(busy)} not yet signing): let it "
            "finish ('keys plan') before going insecure"
        )
    book = KeyBook(keys)
    why = f"{reason}: the zone goes insecure, every DS is withdrawn first ({RFC})"
    for k in ksks:
        if k.ds_state_at(now) in (DsState.SUBMITTED, DsState.SEEN):
            book.apply(state.request_ds_withdrawal(k, now, why, going_insecure=True))
    return book.outcome()


def cancel(keys: Sequence[KeyRecord], now: datetime, reason: str) -> Outcome:
    """Back to normal: roll the active KSK now if its DS withdrawal was requested, so a
    successor's DS is submitted (the planner's normal KSK flow)."""
    book = KeyBook(keys)
    for k in _live_ksks(keys, now):
        if (
            k.state_at(now) is KeyState.ACTIVE
            and k.ds_withdrawal_requested is not None
            and k.rollover_requested is None
        ):
            why = f"{reason}: going insecure cancelled; a new KSK brings a DS back"
            book.apply(state.request_rollover(k, now, why))
    return book.outcome()


def steps(
    keys: Sequence[KeyRecord], since: datetime, t: timing.TimingParams, now: datetime
) -> list[Step]:
    """The KSK steps while going insecure (since ``since``): a ds-gone gate for every
    signing KSK whose DS is being withdrawn (a retired KSK has its own in the planner's
    retiring steps), then the stop of signing once no cache can hold a DS."""
    ksks = [k for k in keys if k.role is Role.KSK]
    out: list[Step] = []
    pending = [k for k in ksks if k.ds_state_at(now) is DsState.WITHDRAWAL_REQUESTED]
    for k in pending:
        if k.state_at(now) is KeyState.RETIRED:
            continue
        why = (
            f"the DS of {k.name} confirmed gone from the parent zone "
            f"('tldsec keys ds-gone {k.key_tag}' or the validated parent check)"
        )
        out.append(
            Step(
                Action.CONFIRM_DS_WITHDRAWN,
                Role.KSK,
                k.key_id,
                k.key_tag,
                (Constraint("ds-gone", why, None),),
            )
        )
    unsettled = [k for k in ksks if k.ds_state_at(now) in (DsState.SUBMITTED, DsState.SEEN)]
    constraints: list[Constraint] = [
        Constraint("go-insecure", f"going insecure requested ({RFC})", since)
    ]
    for k in unsettled:  # a DS submitted after the start (cannot happen through start)
        constraints.append(
            Constraint(
                "ds-withdrawal",
                f"the withdrawal of {k.name}'s DS requested ('tldsec keys go-insecure' again)",
                None,
            )
        )
    for k in pending:
        constraints.append(
            Constraint(
                "ds-gone",
                f"the DS of {k.name} confirmed gone from the parent zone "
                f"('tldsec keys ds-gone {k.key_tag}' or the validated parent check)",
                None,
            )
        )
    wait = timing.ds_publish_interval(t)
    if not pending and not unsettled:
        last = max([since, *(k.ds_withdrawn for k in ksks if k.ds_withdrawn is not None)])
        until = last + wait
        constraints.append(
            Constraint(
                "ds-expired",
                f"no cache holds a DS of the zone: DprpP + TTLds = {human(wait)} after the "
                f"last ds-gone ({RFC})",
                until,
            )
        )
    out.append(Step(Action.UNSIGN, Role.KSK, None, None, tuple(constraints)))
    return out


def unsign(keys: Sequence[KeyRecord], now: datetime, reason: str) -> Outcome:
    """The last step: every key still in the zone retires and is removed at ``now``, so
    the signing configuration is empty and the zone is published unsigned. Refused
    while any KSK's DS is not confirmed gone from the parent (a validator holding it
    would find the unsigned zone bogus, RFC 4035 5.2)."""
    ksks = [k for k in keys if k.role is Role.KSK]
    held = [
        k.name
        for k in ksks
        if k.ds_submitted is not None and (k.ds_withdrawn is None or k.ds_withdrawn > now)
    ]
    if held:
        raise KeyManagementError(
            f"the DS of {', '.join(held)} is not confirmed gone from the parent zone: the "
            f"zone must stay signed until it is ('tldsec keys plan'; {RFC})"
        )
    live = [k for k in keys if k.state_at(now) not in (None, KeyState.REMOVED)]
    if not live:
        raise KeyManagementError("the zone has no key left in it: it is unsigned already")
    book = KeyBook(keys)
    why = f"{reason}: the zone is published unsigned ({RFC})"
    for k in live:
        if k.state_at(now) in state.SIGNING_STATES:
            k = book.apply(state.retire(k, now, why))
        book.apply(state.remove(k, now, why))
    return book.outcome()


def unsigned_at(keys: Sequence[KeyRecord], since: datetime | None) -> datetime | None:
    """When the zone went unsigned while going insecure since ``since``: the last step's
    time, read from the key facts (every key removed, every DS gone, the last removal
    after ``since``); None if it has not."""
    if since is None or not keys:
        return None
    if any(k.removed is None for k in keys):
        return None
    if any(k.ds_submitted is not None and k.ds_withdrawn is None for k in keys):
        return None
    last = max(k.removed for k in keys if k.removed is not None)
    return last if last >= since else None
