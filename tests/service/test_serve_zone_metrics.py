"""/metrics of a real ``tldsec serve`` for a home of two zones (decisions 67, 75): the key
gauges (keys by role and state, the next key event, handed over) and the pending-change
gauges are given per zone with a ``zone`` label, each read from that zone's own keys and
cycle state; before, a home of several zones left the key gauges out and counted every
change the registry ever had as pending."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.service.running import Serve
from tests.service.test_serve_zones import both_zones_served, two_zone_home
from tldsec.service.metrics import Metrics, Snapshot, ZoneSnapshot
from tldsec.service.probes import ZoneFacts

Samples = dict[str, list[tuple[dict[str, str], float]]]


def by_zone(m: Samples, name: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for labels, value in m.get(name, []):
        assert labels["zone"] not in found, (name, labels)
        found[labels["zone"]] = value
    return found


def test_key_and_pending_gauges_per_zone(tmp_path: Path) -> None:
    home = two_zone_home(tmp_path / "home")
    serve = Serve.start(home, tmp_path / "serve.log", "--no-epp", serial=False)
    try:
        both_zones_served(serve)

        def probed() -> bool:
            m = serve.metrics()
            return set(by_zone(m, "tldsec_pending_changes")) == {"example.", "shop."} and all(
                v == 0 for v in by_zone(m, "tldsec_pending_changes").values()
            )

        serve.wait(probed, "each zone's pending changes probed", timeout=120)
        m = serve.metrics()
        keys: dict[str, dict[tuple[str, str], float]] = {}
        for labels, value in m["tldsec_keys"]:
            keys.setdefault(labels["zone"], {})[(labels["role"], labels["state"])] = value
        assert set(keys) == {"example.", "shop."}, keys
        for origin, states in keys.items():
            assert states[("ksk", "active")] >= 1 and states[("zsk", "active")] >= 1, origin
        events = by_zone(m, "tldsec_next_key_event_seconds")
        assert set(events) == {"example.", "shop."} and all(v > 0 for v in events.values())
        assert by_zone(m, "tldsec_zone_handed_over") == {"example.": 0, "shop.": 0}
        assert by_zone(m, "tldsec_pending_oldest_age_seconds") == {"example.": 0, "shop.": 0}
    finally:
        serve.stop()


def test_a_zone_handed_over_leaves_out_only_its_own_gauges() -> None:
    """shop. handed over to another operator (DPS 4.6): its signature-expiry and
    oldest-pending gauges are left out and ``tldsec_zone_handed_over`` says 1 for it;
    example.'s are as before."""
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    ended = {"operator": "gaining", "handed_over": "x", "ended": "y", "note": "n"}

    def zone(origin: str, handed: dict[str, str] | None) -> ZoneSnapshot:
        facts = ZoneFacts(
            pending_changes=2,
            oldest_pending=now - timedelta(minutes=5),
            key_states=Counter({("ksk", "active"): 1, ("zsk", "active"): 1}),
            next_key_event=now + timedelta(days=3),
            handed_over=handed,
        )
        return ZoneSnapshot(
            origin=origin, serial=7, earliest_expiry=now + timedelta(days=6), facts=facts
        )

    snapshot = Snapshot(now=now, zones=[zone("example.", None), zone("shop.", ended)])
    exposed = Metrics(lambda: snapshot, zones=["example.", "shop."]).exposition().decode()
    m: Samples = {}
    for family in text_string_to_metric_families(exposed):
        for sample in family.samples:
            m.setdefault(sample.name, []).append((sample.labels, sample.value))
    assert by_zone(m, "tldsec_zone_handed_over") == {"example.": 0, "shop.": 1}
    assert set(by_zone(m, "tldsec_signature_earliest_expiry_seconds")) == {"example."}
    assert by_zone(m, "tldsec_pending_oldest_age_seconds") == {"example.": 300}
    assert by_zone(m, "tldsec_pending_changes") == {"example.": 2, "shop.": 2}
    assert by_zone(m, "tldsec_next_key_event_seconds") == {
        "example.": 3 * 86400,
        "shop.": 3 * 86400,
    }
