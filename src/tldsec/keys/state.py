"""Key records as stored facts, and the lifecycle state derived from them at any moment.

A ``KeyRecord`` holds only facts: when the key was created, first backed up (an archive
under the SMK holding it, written and checked: DPS 5.2.4), published, made active,
retired, removed, and (for a KSK) when its DS was submitted to the parent, seen there,
its withdrawal requested and its removal seen. The state at any instant is computed
from those timestamps (Knot's approach), so the key set of any past moment can be
rebuilt exactly, which the simulation, the history and the rollover proof rely on.

The functions at the bottom are the only ways to add a fact; each refuses a transition
the lifecycle does not allow (a retired key never signs again, DPS 5.3) with a
``KeyManagementError`` and returns the new record with the ``Transition`` to record.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from tldsec.dnscore.dnskey import dnskey_rdata, key_tag
from tldsec.errors import KeyManagementError
from tldsec.policy import Algorithm
from tldsec.signconf import SEP_FLAG, ZONE_KEY_FLAG


class Role(StrEnum):
    """What a key is for: a KSK signs the DNSKEY RRset, a ZSK everything else."""

    KSK = "ksk"
    ZSK = "zsk"

    @property
    def flags(self) -> int:
        """DNSKEY flags: 257 for a KSK (SEP bit, RFC 4034 2.1.1 / RFC 3757), 256 for a ZSK."""
        return ZONE_KEY_FLAG | SEP_FLAG if self is Role.KSK else ZONE_KEY_FLAG


class KeyState(StrEnum):
    """Where a key is in its life, derived from its facts at a given instant."""

    GENERATED = "generated"  # exists in the key store, not in the zone
    # Algorithm rollover (RFC 6781 4.1.4): a new algorithm's key signs before its DNSKEY
    # is published, and an old one keeps signing after its DNSKEY left.
    PRESIGNING = "presigning"  # signs, not yet in the DNSKEY RRset
    PUBLISHED = "published"  # in the DNSKEY RRset, signs nothing (pre-published / standby)
    ACTIVE = "active"  # in the DNSKEY RRset and signing
    UNPUBLISHED = "unpublished"  # out of the DNSKEY RRset, still signing
    RETIRED = "retired"  # in the DNSKEY RRset, signs nothing, never will again (post-publish)
    REMOVED = "removed"  # out of the zone for good


class DsState(StrEnum):
    """Where a KSK's DS is at the parent (the root zone, via IANA)."""

    NONE = "none"
    SUBMITTED = "submitted"  # produced and sent to the parent, not yet seen there
    SEEN = "seen"  # confirmed in the parent zone
    WITHDRAWAL_REQUESTED = "withdrawal-requested"  # removal asked of the parent
    WITHDRAWN = "withdrawn"  # confirmed gone from the parent zone


class KeyEvent(StrEnum):
    """Every recorded transition; the names are those of the audit log (docs/keys.md)."""

    GENERATED = "key.generated"
    DISCARDED = "key.discarded"
    PUBLISHED = "key.published"
    ACTIVATED = "key.activated"
    RETIRED = "key.retired"
    REMOVED = "key.removed"
    COMPROMISED = "key.compromised"
    ROLLOVER_REQUESTED = "key.rollover-requested"
    DS_SUBMITTED = "ds.submitted"
    DS_SEEN = "ds.seen"
    DS_WITHDRAWAL_REQUESTED = "ds.withdrawal-requested"
    DS_WITHDRAWN = "ds.withdrawn"
    BACKED_UP = "key.backed-up"  # in a checked archive under the SMK (DPS 5.2.4)
    PRESIGNED = "key.presigned"  # signs before its DNSKEY is published (RFC 6781 4.1.4)
    UNPUBLISHED = "key.unpublished"  # its DNSKEY left the zone, it still signs (4.1.4)

    @property
    def fact(self) -> str | None:
        """The KeyRecord field this event sets (None for generated / discarded)."""
        return _FACT_OF_EVENT.get(self)


_FACT_OF_EVENT = {
    KeyEvent.PUBLISHED: "published",
    KeyEvent.ACTIVATED: "active",
    KeyEvent.RETIRED: "retired",
    KeyEvent.REMOVED: "removed",
    KeyEvent.COMPROMISED: "compromised",
    KeyEvent.ROLLOVER_REQUESTED: "rollover_requested",
    KeyEvent.DS_SUBMITTED: "ds_submitted",
    KeyEvent.DS_SEEN: "ds_seen",
    KeyEvent.DS_WITHDRAWAL_REQUESTED: "ds_withdrawal_requested",
    KeyEvent.DS_WITHDRAWN: "ds_withdrawn",
    KeyEvent.BACKED_UP: "backed_up",
    KeyEvent.PRESIGNED: "presigned",
    KeyEvent.UNPUBLISHED: "unpublished",
}


@dataclass(frozen=True, slots=True)
class Transition:
    """One recorded fact: what happened to which key, when, and why."""

    time: datetime
    event: KeyEvent
    key_id: str
    key_tag: int
    role: Role
    reason: str

    def __post_init__(self) -> None:
        _check_aware("time", self.time)
        if not self.reason.strip():
            raise ValueError("a transition needs a reason")


# The lifecycle facts in the order they must happen.
_LIFECYCLE = ("created", "published", "active", "retired", "removed")
_DS = ("ds_submitted", "ds_seen", "ds_withdrawal_requested", "ds_withdrawn")
_OTHER = ("compromised", "rollover_requested", "backed_up", "presigned", "unpublished")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One key's identity and the facts of its life (all times UTC)."""

    key_id: str  # the key store's id
    role: Role
    algorithm: Algorithm
    bits: int
    public_key: bytes  # DNSKEY Public Key field
    created: datetime
    label: str = ""
    published: datetime | None = None
    active: datetime | None = None
    retired: datetime | None = None
    removed: datetime | None = None
    ds_submitted: datetime | None = None
    ds_seen: datetime | None = None
    ds_withdrawal_requested: datetime | None = None
    ds_withdrawn: datetime | None = None
    compromised: datetime | None = None
    rollover_requested: datetime | None = None
    backed_up: datetime | None = None  # first written and checked in an SMK archive
    # An algorithm rollover's facts (RFC 6781 4.1.4): signing from ``presigned`` before
    # ``published``; out of the DNSKEY RRset from ``unpublished`` while still signing.
    presigned: datetime | None = None
    unpublished: datetime | None = None
    key_tag: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if not self.key_id:
            raise ValueError("a key needs its key store id")
        if not self.public_key:
            raise ValueError(f"key {self.key_id} has an empty public key")
        object.__setattr__(self, "key_tag", key_tag(self.dnskey_rdata))
        for name in (*_LIFECYCLE, *_DS, *_OTHER):
            value = getattr(self, name)
            if value is not None:
                _check_aware(name, value)
        if self.backed_up is not None and self.backed_up < self.created:
            raise ValueError(f"key {self.key_id}: backed up before the key existed")
        _check_order(self, _LIFECYCLE)
        _check_order(self, _DS)
        if self.role is Role.ZSK and any(getattr(self, n) is not None for n in _DS):
            raise ValueError(f"ZSK {self.key_id} has DS facts; only a KSK has a DS")
        if self.ds_submitted is not None and self.ds_submitted < self.created:
            raise ValueError(f"key {self.key_id}: DS submitted before the key existed")
        if self.presigned is not None and not (
            self.created <= self.presigned <= (self.published or self.presigned)
        ):
            raise ValueError(f"key {self.key_id}: presigned outside created..published")
        if self.unpublished is not None and (
            self.active is None
            or self.unpublished < self.active
            or (self.retired is not None and self.retired < self.unpublished)
        ):
            raise ValueError(f"key {self.key_id}: unpublished outside active..retired")

    @property
    def flags(self) -> int:
        return self.role.flags

    @property
    def dnskey_rdata(self) -> bytes:
        """DNSKEY RDATA with the role's flags (RFC 4034 2.1)."""
        return dnskey_rdata(self.flags, int(self.algorithm), self.public_key)

    @property
    def name(self) -> str:
        """How people refer to the key: role and key tag, e.g. ``ksk 20326``."""
        return f"{self.role} {self.key_tag}"

    def state_at(self, when: datetime) -> KeyState | None:
        """The lifecycle state at ``when``; None before the key was created."""
        if _at(self.removed, when):
            return KeyState.REMOVED
        if _at(self.retired, when):
            return KeyState.RETIRED
        if _at(self.unpublished, when):
            return KeyState.UNPUBLISHED
        if _at(self.active, when):
            return KeyState.ACTIVE
        if _at(self.published, when):
            return KeyState.PUBLISHED
        if _at(self.presigned, when):
            return KeyState.PRESIGNING
        if self.created <= when:
            return KeyState.GENERATED
        return None

    def ds_state_at(self, when: datetime) -> DsState:
        """The parent-side state of this key's DS at ``when``."""
        if _at(self.ds_withdrawn, when):
            return DsState.WITHDRAWN
        if _at(self.ds_withdrawal_requested, when):
            return DsState.WITHDRAWAL_REQUESTED
        if _at(self.ds_seen, when):
            return DsState.SEEN
        if _at(self.ds_submitted, when):
            return DsState.SUBMITTED
        return DsState.NONE

    def publishes_at(self, when: datetime) -> bool:
        """Whether the key is in the DNSKEY RRset at ``when``."""
        state = self.state_at(when)
        if state is KeyState.RETIRED:
            return self.unpublished is None  # an algorithm rollover's old key left before
        return state in (KeyState.PUBLISHED, KeyState.ACTIVE)

    def signs_at(self, when: datetime) -> bool:
        """Whether the key signs (its role's RRsets) at ``when``."""
        return self.state_at(when) in SIGNING_STATES

    def last_fact(self) -> datetime:
        """The time of the latest fact; a new fact may not come before it."""
        names = (*_LIFECYCLE, *_DS, *_OTHER)
        times: list[datetime] = [getattr(self, n) for n in names if getattr(self, n) is not None]
        return max(times)

    def bare(self) -> KeyRecord:
        """The key as it was when generated: identity and creation time only."""
        none: dict[str, Any] = dict.fromkeys(_FACT_OF_EVENT.values())
        return replace(self, **none)

    def with_fact(self, event: KeyEvent, when: datetime) -> KeyRecord:
        """The record with the fact ``event`` sets, at ``when`` (no lifecycle checks)."""
        if event.fact is None:
            raise ValueError(f"{event} sets no fact")
        change: dict[str, Any] = {event.fact: when}
        return replace(self, **change)


SIGNING_STATES = frozenset({KeyState.PRESIGNING, KeyState.ACTIVE, KeyState.UNPUBLISHED})


def _at(fact: datetime | None, when: datetime) -> bool:
    return fact is not None and fact <= when


def _check_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime: tldsec works in UTC only")


_REQUIRES = {
    "active": "published",
    "retired": "active",
    "ds_seen": "ds_submitted",
    "ds_withdrawal_requested": "ds_submitted",
    "ds_withdrawn": "ds_withdrawal_requested",
}


def _check_order(record: KeyRecord, names: tuple[str, ...]) -> None:
    previous: tuple[str, datetime] | None = None
    for name in names:
        value = getattr(record, name)
        if value is None:
            continue
        needed = _REQUIRES.get(name)
        if needed is not None and getattr(record, needed) is None:
            raise ValueError(f"key {record.key_id}: {name} is set but {needed} is not")
        if previous is not None and value < previous[1]:
            raise ValueError(f"key {record.key_id}: {name} ({value}) is before {previous[0]}")
        previous = (name, value)


# --- transitions: the only ways to add a fact -------------------------------------------


def _refuse(record: KeyRecord, why: str) -> KeyManagementError:
    return KeyManagementError(f"{record.name} ({record.key_id}): {why}")


def _not_before_last(record: KeyRecord, at: datetime) -> None:
    _check_aware("at", at)
    last = record.last_fact()
    if at < last:
        raise _refuse(record, f"time {at.isoformat()} is before its last recorded fact ({last})")


def _done(
    record: KeyRecord, at: datetime, event: KeyEvent, reason: str, **facts: datetime
) -> tuple[KeyRecord, Transition]:
    changes: dict[str, Any] = dict(facts)
    new = replace(record, **changes)
    return new, Transition(at, event, new.key_id, new.key_tag, new.role, reason)


def publish(record: KeyRecord, at: datetime, reason: str) -> tuple[KeyRecord, Transition]:
    """Put a generated key into the DNSKEY RRset."""
    _not_before_last(record, at)
    if record.published is not None:
        raise _refuse(record, f"is already published (since {record.published})")
    if record.removed is not None:
        raise _refuse(record, "was removed and is never reused (DPS 5.3)")
    if record.compromised is not None:
        raise _refuse(record, "is compromised and must never enter the zone")
    return _done(record, at, KeyEvent.PUBLISHED, reason, published=at)


def activate(record: KeyRecord, at: datetime, reason: str) -> tuple[KeyRecord, Transition]:
    """Make a published key sign (a KSK the DNSKEY RRset, a ZSK the zone)."""
    _not_before_last(record, at)
    if record.retired is not None or record.removed is not None:
        when = record.retired or record.removed
        raise _refuse(
            record,
            f"was retired at {when}; a superseded key never signs again (DPS 5.3)",
        )
    if record.compromised is not None:
        raise _refuse(record, "is compromised and must never sign")
    if record.active is not None:
        raise _refuse(record, f"is already active (since {record.active})")
    if record.published is None:
        # RFC 4035 2.1: a key that signs must be in the apex DNSKEY RRset.
        raise _refuse(record, "is not published; a key must be published before it signs")
    return _done(record, at, KeyEvent.ACTIVATED, reason, active=at)


def retire(record: KeyRecord, at: datetime, reason: str) -> tuple[KeyRecord, Transition]:
    """Stop an active key from signing, for good; it stays published (post-publish)."""
    _not_before_last(record, at)
    if record.state_at(at) is not KeyState.ACTIVE:
        raise _refuse(record, f"is {record.state_at(at)}, not active: only an active key retires")
    return _done(record, at, KeyEvent.RETIRED, reason, retired=at)


def remove(record: KeyRecord, at: datetime, reason: str) -> tuple[KeyRecord, Transition]:
    """Take a key out of the zone for good (a retired key, or one that never signed)."""
    _not_before_last(record, at)
    state = record.state_at(at)
    if state is KeyState.ACTIVE:
        raise _refuse(record, "is active: retire it (roll over) before removing it")
    if state is KeyState.REMOVED:
        raise _refuse(record, f"was already removed at {record.removed}")
    return _done(record, at, KeyEvent.REMOVED, reason, removed=at)


def mark_compromised(record: KeyRecord, at: datetime, reason: str) -> tuple[KeyRecord, Transition]:
    """Record that the key's private half is (suspected) compromised (DPS 4.5.3)."""
    _not_before_last(record, at)
    if record.compromised is not None:
        raise _refuse(record, f"is already marked compromised (since {record.compromised})")
    if record.removed is not None:
        raise _refuse(record, "is already out of the zone")
    return _done(record, at, KeyEvent.COMPROMISED, reason, compromised=at)


def request_rollover(record: KeyRecord, at: datetime, reason: str) -> tuple[KeyRecord, Transition]:
    """Ask for the key's rollover now instead of at the end of its lifetime."""
    _not_before_last(record, at)
    if record.state_at(at) is not KeyState.ACTIVE:
        raise _refuse(record, f"is {record.state_at(at)}, not active: only an active key rolls")
    if record.rollover_requested is not None:
        raise _refuse(record, f"already has a rollover requested ({record.rollover_requested})")
    return _done(record, at, KeyEvent.ROLLOVER_REQUESTED, reason, rollover_requested=at)


def mark_backed_up(record: KeyRecord, at: datetime, reason: str) -> tuple[KeyRecord, Transition]:
    """Record that an archive under the SMK holding the key was written and checked."""
    _not_before_last(record, at)
    if record.backed_up is not None:
        raise _refuse(record, f"is already backed up (since {record.backed_up})")
    return _done(record, at, KeyEvent.BACKED_UP, reason, backed_up=at)


def _ksk_only(record: KeyRecord) -> None:
    if record.role is not Role.KSK:
        raise _refuse(record, "is a ZSK; only a KSK has a DS at the parent")


def submit_ds(record: KeyRecord, at: datetime, reason: str) -> tuple[KeyRecord, Transition]:
    """Record that the key's DS was produced for submission to the parent."""
    _ksk_only(record)
    _not_before_last(record, at)
    if record.ds_submitted is not None:
        raise _refuse(record, f"its DS was already submitted at {record.ds_submitted}")
    if record.removed is not None or record.retired is not None:
        raise _refuse(record, "is retired; its DS must not be added to the parent")
    return _done(record, at, KeyEvent.DS_SUBMITTED, reason, ds_submitted=at)


def mark_ds_seen(record: KeyRecord, at: datetime, reason: str) -> tuple[KeyRecord, Transition]:
    """Record that the key's DS is confirmed in the parent zone."""
    _ksk_only(record)
    _not_before_last(record, at)
    if record.ds_submitted is None:
        raise _refuse(record, "its DS was never submitted; nothing to confirm")
    if record.ds_seen is not None:
        raise _refuse(record, f"its DS was already seen at {record.ds_seen}")
    if record.ds_withdrawal_requested is not None:
        raise _refuse(record, "its DS withdrawal was requested; it is not to be confirmed")
    return _done(record, at, KeyEvent.DS_SEEN, reason, ds_seen=at)


def request_ds_withdrawal(
    record: KeyRecord,
    at: datetime,
    reason: str,
    *,
    replaced: bool = False,
    going_insecure: bool = False,
    handed_over: bool = False,
) -> tuple[KeyRecord, Transition]:
    """Record that the parent was asked to remove the key's DS. ``replaced``: an
    algorithm rollover's old KSK, still signing, whose successor of the new algorithm
    signs too and has its DS seen at the parent (RFC 6781 4.1.4 "new DS").
    ``going_insecure``: the zone goes unsigned (DPS 4.6, keys/go_insecure.py); the DS
    leaves first and the key keeps signing, so every cached DS still validates.
    ``handed_over``: the zone belongs to another operator now (keys/transfer.py), whose
    DS is at the parent; no resolver asks our servers any more."""
    _ksk_only(record)
    _not_before_last(record, at)
    if record.ds_submitted is None:
        raise _refuse(record, "its DS was never submitted; nothing to withdraw")
    if record.ds_withdrawal_requested is not None:
        raise _refuse(
            record, f"its DS withdrawal was already requested at {record.ds_withdrawal_requested}"
        )
    if record.state_at(at) is KeyState.ACTIVE and not (replaced or going_insecure or handed_over):
        # Withdrawing the DS of the key that signs the DNSKEY RRset breaks the chain.
        raise _refuse(record, "is the active KSK: its DS must stay until it is retired")
    return _done(record, at, KeyEvent.DS_WITHDRAWAL_REQUESTED, reason, ds_withdrawal_requested=at)


def mark_ds_withdrawn(record: KeyRecord, at: datetime, reason: str) -> tuple[KeyRecord, Transition]:
    """Record that the key's DS is confirmed gone from the parent zone."""
    _ksk_only(record)
    _not_before_last(record, at)
    if record.ds_withdrawal_requested is None:
        raise _refuse(record, "its DS withdrawal was never requested")
    if record.ds_withdrawn is not None:
        raise _refuse(record, f"its DS was already confirmed gone at {record.ds_withdrawn}")
    return _done(record, at, KeyEvent.DS_WITHDRAWN, reason, ds_withdrawn=at)


def presign(record: KeyRecord, at: datetime, reason: str) -> tuple[KeyRecord, Transition]:
    """A new algorithm's key starts signing before its DNSKEY is published: RFC 6781
    4.1.4, the new RRSIGs are cached before any validator sees the new algorithm."""
    _not_before_last(record, at)
    if record.state_at(at) is not KeyState.GENERATED:
        raise _refuse(record, f"is {record.state_at(at)}: only a generated key presigns")
    if record.compromised is not None:
        raise _refuse(record, "is compromised and must never sign")
    return _done(record, at, KeyEvent.PRESIGNED, reason, presigned=at)


def publish_presigned(
    record: KeyRecord, at: datetime, reason: str
) -> tuple[KeyRecord, tuple[Transition, Transition]]:
    """A presigning key's DNSKEY enters the zone; it keeps signing (published and active
    at once, RFC 6781 4.1.4 "new DNSKEY")."""
    _not_before_last(record, at)
    if record.state_at(at) is not KeyState.PRESIGNING:
        raise _refuse(record, f"is {record.state_at(at)}, not presigning")
    published, first = _done(record, at, KeyEvent.PUBLISHED, reason, published=at)
    active, second = _done(published, at, KeyEvent.ACTIVATED, reason, active=at)
    return active, (first, second)


def unpublish(record: KeyRecord, at: datetime, reason: str) -> tuple[KeyRecord, Transition]:
    """An old algorithm's active key leaves the DNSKEY RRset and still signs until every
    cached DNSKEY RRset without it has expired (RFC 6781 4.1.4 "DNSKEY removal")."""
    _not_before_last(record, at)
    if record.state_at(at) is not KeyState.ACTIVE:
        raise _refuse(record, f"is {record.state_at(at)}, not active: only an active key")
    return _done(record, at, KeyEvent.UNPUBLISHED, reason, unpublished=at)


def stop_signing(
    record: KeyRecord, at: datetime, reason: str
) -> tuple[KeyRecord, tuple[Transition, Transition]]:
    """An unpublished key's signatures leave the zone: it is retired and removed at once
    (RFC 6781 4.1.4 "RRSIG removal"); it never signs again (DPS 5.3)."""
    _not_before_last(record, at)
    if record.state_at(at) is not KeyState.UNPUBLISHED:
        raise _refuse(record, f"is {record.state_at(at)}, not unpublished")
    retired, first = _done(record, at, KeyEvent.RETIRED, reason, retired=at)
    removed, second = _done(retired, at, KeyEvent.REMOVED, reason, removed=at)
    return removed, (first, second)
