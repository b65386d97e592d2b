"""Which notices are due, from values (DPS 1.4.3, 2).

Each notice has a stable id (``rollover-ahead:zsk:61840:example.``, ``incident:1234``), so
a notice is made once however often the derivation runs: the outbox skips an id it holds.
A key's notice names its zone (decision 72: two zones' keys may share a tag); one sent
before that has the id without it (``Draft.before``), matched to its zone by the
message's subject (``outbox.zone_of``). Only
events within ``lookback`` of ``now`` make notices, so a first run does not mail the
zone's whole past.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tldsec.audit.entry import Entry
from tldsec.keys.state import KeyRecord
from tldsec.publish.calendar import CalendarEntry
from tldsec.publish.dps import DpsVersion, upcoming
from tldsec.publish.incidents import Incident

DEFAULT_LOOKBACK = timedelta(days=7)


class NoticeKind(StrEnum):
    """What a notice is about; ``[notify] recipients`` says who gets each kind."""

    ROLLOVER_AHEAD = "rollover-ahead"  # a KSK or ZSK rollover N days ahead
    ROLLOVER_DONE = "rollover-done"  # ... and when it is done
    EMERGENCY = "emergency"  # an emergency rollover, at once (DPS 4.5.3)
    INCIDENT = "incident"
    INCIDENT_ENDED = "incident-ended"
    DPS_CHANGE = "dps-change"  # a significant DPS change N days ahead (DPS 1.4.3)
    DS_LIVE = "ds-live"  # to one registrar: its DS change is in the published zone
    GO_INSECURE = "go-insecure"  # DNSSEC ends for the zone (DPS 4.6), or that is cancelled
    # The zone moves to another operator, signed throughout (DPS 4.6, decision 47): its
    # start, the handover, the end of our role, or its cancel.
    OPERATOR_TRANSFER = "operator-transfer"


PUBLIC_KINDS = tuple(k for k in NoticeKind if k is not NoticeKind.DS_LIVE)


@dataclass(frozen=True, slots=True)
class Draft:
    """A notice to make: its id, kind, the template's values and, for ``ds-live``, the
    one registrar it is for."""

    id: str
    kind: NoticeKind
    context: Mapping[str, Any] = field(default_factory=dict)
    registrar: str | None = None
    before: str | None = None  # the id before decision 72 (no zone), if it had another


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def rollover_notices(
    keys: Sequence[KeyRecord],
    calendar: Sequence[CalendarEntry],
    now: datetime,
    ahead: timedelta,
    lookback: timedelta = DEFAULT_LOOKBACK,
    *,
    origin: str,
) -> list[Draft]:
    """Rollovers starting within ``ahead`` (a key of ours stops signing), rollovers done
    in the last ``lookback`` (a key retired, not in an emergency), and emergency
    rollovers (a key marked compromised) in the last ``lookback``, of the zone
    ``origin`` (in their ids: decision 72)."""
    drafts: list[Draft] = []
    # Going insecure's last step retires and removes a key at one instant (DPS 4.6,
    # keys/go_insecure.py): not a rollover; its own go-insecure notice says what it is.
    unsigned = {(c.key_tag, c.time) for c in calendar if c.event == "key.removed"}
    for c in calendar:
        if c.event != "key.retired" or c.key_tag is None or c.time > now + ahead:
            continue
        if (c.key_tag, c.time) in unsigned:
            continue
        successor = next(
            (
                x.key_tag
                for x in calendar
                if x.event == "key.activated" and x.role == c.role and x.time == c.time
            ),
            None,
        )
        drafts.append(
            _keyed(
                f"rollover-ahead:{c.role}:{c.key_tag}",
                origin,
                NoticeKind.ROLLOVER_AHEAD,
                {
                    "role": c.role.upper(),
                    "old_tag": c.key_tag,
                    "new_tag": successor,
                    "when": _iso(c.time),
                    "days": max(0, (c.time - now).days),
                },
            )
        )
    for k in keys:
        if k.compromised is not None and now - lookback <= k.compromised <= now:
            drafts.append(
                _keyed(
                    f"emergency:{k.role}:{k.key_tag}",
                    origin,
                    NoticeKind.EMERGENCY,
                    {
                        "role": str(k.role).upper(),
                        "old_tag": k.key_tag,
                        "when": _iso(k.compromised),
                    },
                )
            )
        elif k.retired is not None and k.removed == k.retired:
            continue  # the last step of going insecure, not a rollover (see above)
        elif k.retired is not None and now - lookback <= k.retired <= now:
            successor = next(
                (
                    s.key_tag
                    for s in keys
                    if s.role is k.role and s.active is not None and s.active == k.retired
                ),
                None,
            )
            drafts.append(
                _keyed(
                    f"rollover-done:{k.role}:{k.key_tag}",
                    origin,
                    NoticeKind.ROLLOVER_DONE,
                    {
                        "role": str(k.role).upper(),
                        "old_tag": k.key_tag,
                        "new_tag": successor,
                        "when": _iso(k.retired),
                        "removal": None if k.removed is None else _iso(k.removed),
                    },
                )
            )
    return drafts


def _keyed(unzoned: str, origin: str, kind: NoticeKind, context: Mapping[str, Any]) -> Draft:
    """A key's notice: its id names the zone after the key (decision 72), and keeps the
    id it had before as ``before``."""
    return Draft(f"{unzoned}:{origin}", kind, context, before=unzoned)


def incident_notices(
    incidents: Sequence[Incident], now: datetime, lookback: timedelta = DEFAULT_LOOKBACK
) -> list[Draft]:
    """An incident when it begins and again when it ends (within ``lookback``)."""
    drafts: list[Draft] = []
    for i in incidents:
        context = {
            "id": i.key,
            "description": i.description,
            "level": i.level,
            "begun": _iso(i.begun),
            "ended": None if i.ended is None else _iso(i.ended),
            "serial": i.serial,
        }
        if now - lookback <= i.begun <= now:
            drafts.append(Draft(f"incident:{i.seq}", NoticeKind.INCIDENT, context))
        if i.ended is not None and now - lookback <= i.ended <= now:
            drafts.append(Draft(f"incident-ended:{i.seq}", NoticeKind.INCIDENT_ENDED, context))
    return drafts


def dps_notices(versions: Sequence[DpsVersion], now: datetime, ahead: timedelta) -> list[Draft]:
    """A significant DPS version that takes effect within ``ahead`` (DPS 1.4.3)."""
    return [
        Draft(
            f"dps-change:{v.slug}",
            NoticeKind.DPS_CHANGE,
            {
                "version": v.version,
                "effective": v.effective.isoformat(),
                "summary": v.summary,
                "sha256": v.sha256,
                "page": f"dps-{v.slug}.html",
                "days": max(0, (v.effective_at - now).days),
            },
        )
        for v in upcoming(versions, now)
        if v.significant and v.effective_at - ahead <= now
    ]


@dataclass(frozen=True, slots=True)
class ServedChange:
    """A registrar's DS change in a serial every secondary serves: the registry trace's
    fact (decision 51) that the "live" poll message also says (``notify/served.py``)."""

    sv_trid: str
    registrar: str  # client id
    domain: str
    serial: int  # the first serial holding the change that every secondary served
    accepted_at: datetime  # the change's commit
    live_at: datetime  # when the last secondary was seen serving that serial
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


def ds_live_notices(
    served: Sequence[ServedChange], opted_in: Sequence[str], now: datetime,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> list[Draft]:  # fmt: skip
    """ "Your DS change SVTRID is live in serial N, served by all secondaries at T", once
    per change (the id is its svTRID), for each registrar in ``opted_in``: the fact of
    its poll message, sent when the trace found it served (decisions 51, 56)."""
    wanted = set(opted_in)
    return [
        Draft(
            f"ds-live:{c.sv_trid}",
            NoticeKind.DS_LIVE,
            {
                "domain": c.domain,
                "serial": c.serial,
                "sv_trid": c.sv_trid,
                "changed": _iso(c.accepted_at),
                # as the poll message writes it (trace/live.py)
                "served": f"{c.live_at:%Y-%m-%dT%H:%M:%SZ}",
                "added": list(c.added),
                "removed": list(c.removed),
            },
            registrar=c.registrar,
        )
        for c in served
        if c.registrar in wanted and c.live_at >= now - lookback
    ]


GO_INSECURE_EVENTS = (
    "key.go_insecure_requested",
    "key.go_insecure_cancelled",
    "key.zone_unsigned",  # the last step: the zone is published unsigned (decision 46)
)


def go_insecure_notices(
    entries: Sequence[Entry], now: datetime, lookback: timedelta = DEFAULT_LOOKBACK
) -> list[Draft]:
    """DPS 4.6 "orderly manner with public notification": the start of going insecure
    (every DS withdrawn first, the zone signed until no cache holds one), its cancel,
    and its last step (the zone published unsigned), each once, from the audit log's
    records of them within ``lookback``."""
    return [
        Draft(
            f"go-insecure:{e.seq}",
            NoticeKind.GO_INSECURE,
            {
                "cancelled": e.event == "key.go_insecure_cancelled",
                "unsigned": e.event == "key.zone_unsigned",
                "reason": str(e.details.get("reason", "")),
                "when": _iso(e.time),
                "ksk_tags": list(e.details.get("ds_withdrawal_requested") or []),
            },
        )
        for e in entries
        if e.event in GO_INSECURE_EVENTS and now - lookback <= e.time <= now
    ]


TRANSFER_EVENTS = (
    "key.transfer_started",  # at each import; the first of a transfer starts it
    "key.transfer_handed_over",
    "key.transfer_ended",
    "key.transfer_cancelled",
)
TRANSFER_STAGES = {
    "key.transfer_started": "started",
    "key.transfer_handed_over": "handed-over",
    "key.transfer_ended": "ended",
    "key.transfer_cancelled": "cancelled",
}


def transfer_notices(
    entries: Sequence[Entry], now: datetime, lookback: timedelta = DEFAULT_LOOKBACK
) -> list[Draft]:
    """DPS 4.6 "GMO will participate in the transition so as to make it as smooth as
    possible": the operator transfer announced publicly and to the registrars when it
    starts (the gaining operator's keys imported), at the handover (the delegation
    moves) and when our role ends, and if it is cancelled; each once, from the audit
    log's records within ``lookback``. ``entries`` are every transfer record, oldest
    first: an import that adds keys to a transfer under way is not a new start."""
    drafts: list[Draft] = []
    under_way: str | None = None  # the operator of the transfer the records are in
    for e in entries:
        if e.event not in TRANSFER_STAGES:
            continue
        operator = str(e.details.get("operator", ""))
        stage = TRANSFER_STAGES[e.event]
        again = stage == "started" and under_way == operator
        under_way = operator if stage in ("started", "handed-over") else None
        if again or not now - lookback <= e.time <= now:
            continue
        drafts.append(
            Draft(
                f"operator-transfer:{e.seq}",
                NoticeKind.OPERATOR_TRANSFER,
                {
                    "stage": stage,
                    "operator": operator,
                    "reason": str(e.details.get("reason", "")),
                    "when": _iso(e.time),
                    "keys": [str(k) for k in e.details.get("imported") or []],
                },
            )
        )
    return drafts


def _names(names: set[str] | None) -> set[str]:
    return {n.rstrip(".") for n in names or ()}
