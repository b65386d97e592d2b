"""A real ``tldsec serve`` after an operator transfer (DPS 4.6, decision 47): its scheduler
runs the cycle that takes the last step, which succeeds; from then on /health is 200 with
a ``handed_over`` note (nothing to page about at every cycle), /metrics says
``tldsec_zone_handed_over 1`` and leaves out the signature-expiry and pending-change
gauges that would otherwise fire their alerts as our last zone ages; a cycle asked for is
skipped (unchanged), and the INFO line is logged once."""

from __future__ import annotations

from pathlib import Path

from tests.cycle.test_transfer_end import _cycle, up_to_the_last_step
from tests.distribute.homes import make_home
from tests.service.running import Serve, secondary_config
from tests.service.test_serve_monitoring import one, post_cycle, values


def test_serve_after_the_handover(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", extra=secondary_config())
    code, first, _ = _cycle(home)
    assert code == 0 and first["outcome"] == "published", first
    up_to_the_last_step(home)
    log = tmp_path / "serve.log"
    serve = Serve.start(home, log, "--no-epp")
    try:
        serve.wait(
            lambda: (
                serve.health()[1].get("handed_over") is not None
                and serve.health()[1].get("last_cycle") is not None
            ),
            "the cycle that ends our role",
        )
        code, health = serve.health()
        assert code == 200 and health["faults"] == [], health
        last = health["last_cycle"]
        assert isinstance(last, dict) and last["outcome"] == "unchanged", last
        assert "our role ended" in str(last["reason"])
        note = health["handed_over"]
        assert isinstance(note, dict) and note["operator"] == "gaining"
        assert str(note["note"]).startswith("handed over to gaining on ")
        m = serve.metrics()
        assert one(m, "tldsec_zone_handed_over") == 1
        assert one(m, "tldsec_health_ok") == 1
        for gone in (
            "tldsec_signature_earliest_expiry_seconds",
            "tldsec_pending_oldest_age_seconds",
        ):
            assert gone not in m, gone

        post_cycle(serve)  # asked for: skipped, not failed
        serve.wait(lambda: sum(values(serve.metrics(), "tldsec_cycles_total")) >= 2, "a cycle")
        outcomes = {labels["outcome"]: v for labels, v in serve.metrics()["tldsec_cycles_total"]}
        assert outcomes["unchanged"] == 2 and outcomes["failed"] == 0, outcomes
        code, health = serve.health()
        assert code == 200, health
        assert "nothing to do: handed over to gaining" in str(health["last_cycle"])
    finally:
        serve.stop()
    text = log.read_text()
    assert text.count("no cycle runs; the zone is theirs") == 1, text[-3000:]
