"""The rollover calendar: what the key schedule will do in the coming months (DPS 6.4).

It runs the production planner on a copy of the zone's keys (``keys.simulate.forecast``)
and keeps the events a relying party or a registrar sees: a DNSKEY published, a key
starting or stopping signing, a DNSKEY removed, a DS sent to IANA or its withdrawal
asked. A key that does not exist yet is "a new KSK/ZSK": its tag is not known.

Pure: the clock is a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tldsec.audit.entry import format_time
from tldsec.keys.simulate import ParentModel, forecast
from tldsec.keys.state import KeyRecord
from tldsec.keys.timing import TimingParams
from tldsec.keys.transfer import Transfer
from tldsec.policy import Policy

_SHOWN = {
    "key.published": "{key} is published in the DNSKEY RRset",
    "key.activated": "{key} starts signing",
    "key.retired": "{key} stops signing (it stays published for a while)",
    "key.removed": "{key} is removed from the DNSKEY RRset",
    "ds.submitted": "the DS of {key} is sent to IANA for the root zone",
    "ds.withdrawal-requested": "IANA is asked to remove the DS of {key} from the root zone",
}


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """One planned event."""

    time: datetime
    event: str
    role: str
    key_tag: int | None  # None: a key not generated yet
    description: str

    def as_json(self) -> dict[str, Any]:
        return {
            "time": format_time(self.time),
            "event": self.event,
            "role": self.role,
            "key_tag": self.key_tag,
            "description": self.description,
        }


def rollover_calendar(
    keys: Sequence[KeyRecord],
    policy: Policy,
    timing: TimingParams,
    now: datetime,
    days: int,
    *,
    parent: ParentModel | None = None,
    insecure_since: datetime | None = None,
    handover: Transfer | None = None,
) -> list[CalendarEntry]:
    """The planned key events from ``now`` for ``days`` days, in time order;
    ``insecure_since``: the zone is going insecure (DPS 4.6), no KSK rolls any more;
    ``handover``: an operator transfer is under way (DPS 4.6), no key of ours is made
    or published until it ends or is cancelled."""
    if not keys:
        return []
    result = forecast(
        keys, policy, timing, now, days,
        parent=parent, insecure_since=insecure_since, handover=handover,
    )  # fmt: skip
    known = {k.key_tag for k in keys}
    end = now + timedelta(days=days)
    out: list[CalendarEntry] = []
    for e in result.events:
        text = _SHOWN.get(e.event)
        if text is None or e.time > end:
            continue
        tag = e.key_tag if e.key_tag in known else None
        who = f"{str(e.role).upper()} {tag}" if tag is not None else f"a new {str(e.role).upper()}"
        out.append(CalendarEntry(e.time, e.event, str(e.role), tag, text.format(key=who)))
    return out
