"""Incident notices from audit entries, the signature-expiry margin among them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tldsec.audit.entry import Entry, format_time
from tldsec.publish.incidents import MARGIN_EVENT, incidents

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MARGIN = timedelta(hours=48)


def published(seq: int, when: datetime, serial: int, valid: timedelta) -> Entry:
    details = {"serial": serial, "earliest_signature_expiry": format_time(when + valid)}
    return Entry(seq, when, "component:distributor", "zone.published", "info", details,
                 "0" * 64, "1" * 64)  # fmt: skip


def test_a_zone_whose_signatures_run_short_by_now_is_an_incident() -> None:
    entries = [published(1, T0, 100, timedelta(days=6))]
    assert incidents(entries, T0 + timedelta(days=3), MARGIN) == []
    # no zone published for four days: the signatures expire within 48 hours
    [low] = incidents(entries, T0 + timedelta(days=4, hours=1), MARGIN)
    assert low.event == MARGIN_EVENT and low.is_open
    assert low.begun == T0 + timedelta(days=4) and low.key == "incident-1"
    # a new zone with fresh signatures ends it
    entries.append(published(2, T0 + timedelta(days=4, hours=2), 101, timedelta(days=7)))
    assert incidents(entries, T0 + timedelta(days=4, hours=3), MARGIN) == []


def test_a_zone_published_with_short_signatures_opens_one_and_a_good_one_ends_it() -> None:
    entries = [
        published(1, T0, 100, timedelta(hours=30)),
        published(2, T0 + timedelta(hours=1), 101, timedelta(hours=29)),  # still short
        published(3, T0 + timedelta(hours=2), 102, timedelta(days=7)),
    ]
    [low] = incidents(entries, T0 + timedelta(hours=3), MARGIN)
    assert (low.begun, low.ended, low.serial) == (T0, T0 + timedelta(hours=2), 102)
    assert incidents(entries, T0 + timedelta(hours=3)) == []  # no margin given: not looked at
