"""The public repository rendered from values: every page parses, every link resolves,
and the pages say what the JSON says (DPS 2.1, 2.2)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.publish.sitecheck import check_site
from tldsec.audit.entry import Entry
from tldsec.keys.ds import parent_ds_set
from tldsec.keys.simulate import simulate
from tldsec.keys.state import KeyState
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy, load_policy
from tldsec.publish.calendar import rollover_calendar
from tldsec.publish.dps import DpsVersion
from tldsec.publish.incidents import incidents
from tldsec.publish.site import SiteInput, build_site

MODEL_DPS = (Path(__file__).parents[1] / "fixtures" / "dps-model.txt").read_text("utf-8")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def policy() -> Policy:
    return dataclasses.replace(load_policy(), backup_before_use=False)


def entry(seq: int, when: datetime, event: str, **details: object) -> Entry:
    return Entry(seq, when, "component:cycle", event, "error", details, "0" * 64, "1" * 64)


def site_input(policy: Policy, *, dps_text: str = MODEL_DPS, summary: str = "") -> SiteInput:
    timing = TimingParams.from_policy(policy)
    history = simulate(policy, timing, T0, 500)  # two ZSK rolls and a KSK roll behind us
    now = T0 + timedelta(days=500)
    keys = history.keys
    return SiteInput(
        origin="example.",
        now=now,
        policy=policy,
        keys=keys,
        ds=parent_ds_set(keys, "example.", now),
        dps=[
            DpsVersion("1.0", date(2024, 6, 1), dps_text, "first version"),
            DpsVersion("1.1", date(2025, 3, 1), dps_text, summary or "contacts"),
            DpsVersion("2.0", (now + timedelta(days=40)).date(), dps_text, "algorithm 13"),
        ],
        calendar=rollover_calendar(keys, policy, timing, now, 365),
        incidents=incidents(
            [
                entry(10, now - timedelta(days=3), "cycle.failed", error="/srv/secret path"),
                entry(11, now - timedelta(days=3, hours=-1), "zone.published", serial=2024),
                entry(12, now - timedelta(hours=2), "hsm.replica_mismatch", hsm="site2"),
            ]
        ),
    )


def test_every_page_parses_and_every_internal_link_resolves(policy: Policy) -> None:
    files = build_site(site_input(policy))
    pages = check_site(files)
    assert {"index.html", "dps.html", "keys.html", "calendar.html", "incidents.html"} <= set(pages)
    assert {"dps-1.0.html", "dps-1.1.html", "dps-2.0.html", "repository.json"} <= set(files)
    # the contents of the DPS page link to every top section of the statement
    assert {"s1.4.3", "s2", "s2.1", "s2.2", "s6.4"} <= pages["dps.html"].ids


def test_the_pages_say_what_the_json_says(policy: Policy) -> None:
    site = site_input(policy)
    files = build_site(site)
    pages = check_site(files)
    data = json.loads(files["repository.json"])
    keys = pages["keys.html"]
    assert [r[0] for r in keys.tables["ds"]] == [str(d["key_tag"]) for d in data["ds"]]
    assert [r[3] for r in keys.tables["ds"]] == [d["digest"] for d in data["ds"]]
    zone_lines = [d["zone_line"] for d in data["ds"]]
    assert keys.pres["ds-zone"].splitlines() == zone_lines
    assert files["ds.zone"].decode().splitlines() == zone_lines
    assert json.loads(files["ds.json"])["ds"] == data["ds"]
    # the DNSKEY set is the keys in the zone now, and only those
    in_zone = {
        k.key_tag
        for k in site.keys
        if k.state_at(site.now) in (KeyState.PUBLISHED, KeyState.ACTIVE, KeyState.RETIRED)
    }
    assert (
        {int(r[0]) for r in keys.tables["dnskey"]}
        == in_zone
        == {k["key_tag"] for k in data["dnskey"]}
    )
    assert len(files["dnskey.zone"].decode().splitlines()) == len(in_zone)
    # the history: every key that was ever published, with its dates
    history = {int(r[0]): r for r in keys.tables["history"]}
    assert set(history) == {k["key_tag"] for k in data["keys"]}
    removed = [k for k in data["keys"] if k["removed"]]
    assert removed, "500 days of rollovers removed keys"
    for k in removed:
        assert history[k["key_tag"]][6] == k["removed"][:16].replace("T", " ")
    # the calendar and the incidents
    cal = pages["calendar.html"].tables["calendar"]
    assert len(cal) == len(data["calendar"]["events"]) > 0
    inc = pages["incidents.html"].tables["incidents"]
    assert [r[0] for r in inc] == [i["id"] for i in data["incidents"]]


def test_the_calendar_shows_no_tag_for_a_key_not_yet_made(policy: Policy) -> None:
    site = site_input(policy)
    tags = {k.key_tag for k in site.keys}
    events = site.calendar
    assert all(e.key_tag is None or e.key_tag in tags for e in events)
    assert any(e.key_tag is None for e in events)  # a future ZSK roll's new key
    # a ZSK roll every 90 days: at least three activations in 365 days
    assert sum(e.event == "key.activated" and e.role == "zsk" for e in events) >= 3
    assert all(site.now <= e.time <= site.now + timedelta(days=365) for e in events)


def test_dps_versions_in_force_upcoming_superseded(policy: Policy) -> None:
    files = build_site(site_input(policy))
    data = json.loads(files["repository.json"])
    status = {v["version"]: v["status"] for v in data["dps"]["versions"]}
    assert status == {"1.0": "superseded", "1.1": "in force", "2.0": "upcoming"}
    assert data["dps"]["in_force"] == "1.1"
    assert files["dps.html"] == files["dps-1.1.html"]
    assert files["dps-2.0.txt"].decode() == MODEL_DPS
    index = b"".join(parse_text(files["index.html"]))
    assert b"takes effect on" in index and b"algorithm 13" in index


def parse_text(html: bytes) -> list[bytes]:
    from tests.publish.sitecheck import parse

    return [t.encode() for t in parse(html).text]


def test_markup_in_the_dps_or_a_summary_is_text_not_html(policy: Policy) -> None:
    hostile = MODEL_DPS + "\n9 Injected\n<script>alert(1)</script> <a href='http://evil'>x</a>.\n"
    files = build_site(site_input(policy, dps_text=hostile, summary="<img src=x onerror=1>"))
    for name, data in files.items():
        if name.endswith(".html"):
            assert b"<script>" not in data and b"<img" not in data, name
            assert b"href='http://evil'" not in data
    pages = check_site(files)
    assert "<script>alert(1)</script> <a href='http://evil'>x</a>." in "".join(
        pages["dps-1.1.html"].text
    )


def test_incident_details_stay_private(policy: Policy) -> None:
    files = build_site(site_input(policy))
    for name, data in files.items():
        assert b"/srv/secret" not in data and b"site2" not in data, name
    data = json.loads(files["incidents.json"])["incidents"]
    assert [(i["event"], i["ended_by"], i["serial"]) for i in data] == [
        ("hsm.replica_mismatch", None, None),
        ("cycle.failed", "zone.published", 2024),
    ]


def test_the_fingerprint_moves_with_keys_dps_and_incidents_not_with_the_clock(
    policy: Policy,
) -> None:
    from tldsec.publish.site import fingerprint

    site = site_input(policy)
    base = fingerprint(site)
    assert fingerprint(dataclasses.replace(site, now=site.now + timedelta(minutes=5))) == base
    assert fingerprint(dataclasses.replace(site, incidents=site.incidents[:1])) != base
    assert fingerprint(dataclasses.replace(site, dps=site.dps[:2])) != base
    assert fingerprint(dataclasses.replace(site, keys=site.keys[1:])) != base
    # the upcoming DPS version comes into force: the site changes at midnight
    upcoming = site.dps[2].effective_at
    assert fingerprint(dataclasses.replace(site, now=upcoming)) != base
