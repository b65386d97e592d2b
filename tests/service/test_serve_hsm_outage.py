"""Issue 22 item 3, against a real ``tldsec serve`` with SoftHSM2: the HSM away, as an
outage looks with SoftHSM2 (its token directory moved away, so C_Initialize fails).

* at start: serve keeps serving the last good zone (AXFR), /health is 503 naming the
  HSM (without the PIN), ``tldsec status`` names it, and serve retries with back-off;
  once the token directory is back, /health returns to 200 by itself and the next
  cycle signs;
* during a run: a cycle that fails because the HSM is away is a fault on /health, the
  zone stays served, and the scheduler runs the cycle again with back-off (no new work
  needed) until it publishes; /health is 200 again.

A wrong PIN is never retried: tests/service/test_serve_monitoring.py and
tests/service/test_backoff.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.distribute.homes import make_home, tldsec
from tests.service.running import Serve, secondary_config
from tests.service.test_serve_monitoring import one, post_cycle

UNAVAILABLE = "the HSM is unavailable (retrying with back-off): cannot load PKCS#11 module"


def failures(serve: Serve) -> float:
    m = serve.metrics()["tldsec_cycles_total"]
    return sum(v for labels, v in m if labels["outcome"] == "failed")


def test_serve_survives_an_hsm_that_is_away(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", keystore="pkcs11", extra=secondary_config())
    tldsec("cycle", "--home", str(home))  # the last good zone
    tokens, away = home / "tokens", home / "tokens.away"
    pin = (home / "pin").read_text().strip()
    tokens.rename(away)  # the HSM is away before serve starts
    serve = Serve.start(home, tmp_path / "serve.log", "--no-epp")
    try:
        serve.wait(lambda: any(UNAVAILABLE in f for f in serve.faults()), "the HSM fault")
        code, health = serve.health()
        assert code == 503 and health["status"] == "degraded"
        assert pin not in str(health)
        assert any(f"SoftHSM2 token directory {tokens} " in f for f in serve.faults())
        assert any(f.endswith(" is missing") for f in serve.faults())
        serial = serve.axfr_serial()  # the last good zone is still served
        m = serve.metrics()
        assert one(m, "tldsec_hsm_active") == 0
        assert m["tldsec_hsm_state"] == [({"state": "unavailable"}, 1.0)]
        status = tldsec("status", "--home", str(home), check=False)
        assert status.returncode == 1, status.stdout + status.stderr
        assert f"tldsec serve: {UNAVAILABLE}" in status.stdout
        # a cycle asked for now waits for the HSM; it does not fail or spin
        post_cycle(serve)
        serve.wait(lambda: "waits: the HSM is unavailable" in serve.log.read_text(), "the hold")

        away.rename(tokens)  # the HSM is back: serve logs in by itself
        serve.wait(lambda: serve.health()[0] == 200, "recovery to health 200", timeout=180)
        assert serve.faults() == []
        assert one(serve.metrics(), "tldsec_hsm_active") == 1
        assert "the HSM answers again" in serve.log.read_text()
        post_cycle(serve)  # the next cycle signs
        serve.wait(lambda: serve.axfr_serial() > serial, "a newly signed serial")
        serial = serve.axfr_serial()
        serve.wait(lambda: serve.health()[0] == 200, "health 200 after the cycle")

        # during a run: the HSM goes away, a cycle fails, and is retried with back-off
        tokens.rename(away)
        post_cycle(serve)
        failed = "the last cycle failed"
        serve.wait(
            lambda: any(f.startswith(failed) and "PKCS#11" in f for f in serve.faults()),
            "the failed cycle on /health",
        )
        assert serve.health()[0] == 503
        assert serve.axfr_serial() == serial  # the zone stays served
        serve.wait(lambda: failures(serve) >= 2, "a retry, failed too")  # no new work asked
        assert "retry 1 of a failed cycle" in serve.log.read_text()
        away.rename(tokens)
        serve.wait(lambda: serve.axfr_serial() > serial, "the retried cycle", timeout=180)
        serve.wait(lambda: serve.health()[0] == 200, "health 200 again", timeout=180)
        outcomes = {labels["outcome"]: v for labels, v in serve.metrics()["tldsec_cycles_total"]}
        assert outcomes["published"] == 2, outcomes  # after the outage and the retried one
    finally:
        if away.exists() and not tokens.exists():
            away.rename(tokens)
        serve.stop()
