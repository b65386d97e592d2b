"""Issue 20 items 1 and 4, issue 22 item 3, against real ``tldsec serve`` processes:

* GET /metrics is scraped and parsed with prometheus_client's text parser: the served
  serial (the one an AXFR gives), the earliest signature expiry (DPS 6.5: 6-8 days),
  keys, HSM, databases, audit log, heartbeat, cycles by outcome and stage; and every
  tldsec_ metric the example alert rules read is in the exposition;
* a wrong stored HSM PIN: /health 503 naming the failed login, AXFR still answers with
  the last good zone, ``tldsec status`` names the fault;
* the registry and audit databases on a PostgreSQL cluster the test stops under serve:
  serve keeps serving, /health 503 naming each database, ``tldsec status`` names it;
  a cycle asked for meanwhile fails and is retried with back-off; once the cluster is
  back, serve recovers by itself and /health returns 200.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

from tests.distribute.homes import ORIGIN, make_home, tldsec
from tests.distribute.nameservers import free_port
from tests.service.pgcluster import PgCluster
from tests.service.running import Serve, secondary_config
from tests.service.test_alert_rules import RULES, metric_names
from tldsec.epp.client import EppClient
from tldsec.epp.tls import client_context

DAY = 86400


def values(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> list[float]:
    return [v for _, v in samples.get(name, [])]


def one(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    (value,) = values(samples, name)
    return value


def post_cycle(serve: Serve) -> None:
    token = (serve.home / "control-token").read_text().strip()
    request = urllib.request.Request(
        f"http://127.0.0.1:{serve.health_port}/cycle",
        method="POST",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        assert r.status == 202


def test_metrics_then_a_wrong_pin(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", keystore="pkcs11", extra=secondary_config())
    tldsec("cycle", "--home", str(home))  # the last good zone
    log = tmp_path / "serve.log"
    serve = Serve.start(home, log, "--no-epp")
    try:
        serve.wait(lambda: serve.health()[0] == 200, "health 200")
        serve.wait(lambda: "tldsec_database_up" in serve.metrics(), "the first probe")
        m = serve.metrics()
        serial = serve.axfr_serial()
        assert one(m, "tldsec_zone_serial") == serial
        assert 0 <= one(m, "tldsec_zone_serial_age_seconds") < DAY
        assert 5 * DAY < one(m, "tldsec_signature_earliest_expiry_seconds") <= 8 * DAY
        assert one(m, "tldsec_health_ok") == 1 and one(m, "tldsec_health_faults") == 0
        assert abs(one(m, "tldsec_alert_heartbeat_minute") - time.time() // 60) <= 1
        assert one(m, "tldsec_hsm_active") == 1
        assert m["tldsec_hsm_state"] == [({"state": "active"}, 1.0)]
        databases = {labels["database"]: v for labels, v in m["tldsec_database_up"]}
        assert databases == {"registry": 1, "signer": 1, "audit": 1}
        keys = {(labels["role"], labels["state"]): v for labels, v in m["tldsec_keys"]}
        assert keys[("ksk", "active")] >= 1 and keys[("zsk", "active")] >= 1, keys
        assert one(m, "tldsec_pending_changes") == 0
        assert one(m, "tldsec_pending_oldest_age_seconds") == 0
        assert one(m, "tldsec_next_key_event_seconds") > 0  # the next roll is ahead
        assert one(m, "tldsec_audit_up") == 1
        assert one(m, "tldsec_audit_integrity_alarms") == 0
        assert one(m, "tldsec_replica_incidents") == 0

        # a cycle asked for: counted by outcome, timed by stage
        post_cycle(serve)
        serve.wait(lambda: sum(values(serve.metrics(), "tldsec_cycles_total")) >= 1, "a cycle")
        m = serve.metrics()
        stages = {labels["stage"] for labels, _ in m["tldsec_cycle_stage_seconds_count"]}
        assert {"total", "build", "sign", "verify"} <= stages, stages
        outcomes = {labels["outcome"]: v for labels, v in m["tldsec_cycles_total"]}
        assert outcomes["published"] == 1, outcomes
        gate = {labels["result"]: v for labels, v in m["tldsec_gate_results_total"]}
        assert gate["passed"] == 1 and gate["refused"] == 0

        # every metric the example alert rules read is exposed
        families = set(m) | {name.removesuffix("_total") for name in m}
        rules = metric_names((RULES / "alerts.yml").read_text())
        epp = {"tldsec_epp_command_seconds", "tldsec_epp_results"}  # with EPP: other test
        missing = sorted(n for n in rules - epp if n not in families)
        assert not missing, missing
    finally:
        serve.stop()

    # The stored PIN is wrong now: serve starts, cannot sign, says why, serves the zone.
    good = (home / "pin").read_text()
    (home / "pin").write_text("not-the-pin-77\n")
    serve = Serve.start(home, log, "--no-epp")
    try:
        failed = "the HSM is locked: the login failed"
        serve.wait(lambda: any(failed in f for f in serve.faults()), "the failed login")
        assert serve.health()[0] == 503
        assert serve.axfr_serial() >= serial  # the last good zone is still served
        m = serve.metrics()
        assert one(m, "tldsec_hsm_active") == 0 and one(m, "tldsec_health_ok") == 0
        status = tldsec("status", "--home", str(home), check=False)
        assert status.returncode == 1, status.stdout + status.stderr
        assert "tldsec serve: the HSM is locked: the login failed" in status.stdout
    finally:
        serve.stop()
        (home / "pin").write_text(good)


def test_database_outages_are_faults_and_serve_recovers(tmp_path: Path) -> None:
    cluster = PgCluster.create()
    try:
        cluster.createdb("registry")
        cluster.createdb("audit")
        home = tmp_path / "home"
        tldsec("init", "--home", str(home), "--origin", ORIGIN, "--keystore", "file")
        with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
            f.write(secondary_config())
            f.write(
                f'\n[database]\nregistry_url = "{cluster.url("registry")}"\n'
                f'audit_url = "{cluster.url("audit")}"\n'
            )
        tldsec("db", "upgrade", "--home", str(home))
        tldsec("audit", "init", "--home", str(home))
        tldsec("cycle", "--home", str(home))
        epp_port = free_port()
        serve = Serve.start(
            home, tmp_path / "serve.log", "--epp-processes", "1",
            "--epp-listen", f"127.0.0.1:{epp_port}",
        )  # fmt: skip
        try:
            serve.wait(lambda: serve.health()[0] == 200, "health 200")
            serial = serve.axfr_serial()
            # an EPP login refused (no such registrar): its transaction row becomes the
            # latency histogram and the result code counter
            client = EppClient("127.0.0.1", epp_port, client_context(home / "epp-cert.pem"))
            client.connect()
            refused = client.login("nobody", "not-a-password-1").code
            client.close()
            assert refused >= 2000

            def epp_seen() -> bool:
                m = serve.metrics()
                return any(
                    labels == {"command": "login", "code": str(refused)}
                    for labels, _ in m.get("tldsec_epp_results_total", [])
                ) and values(m, "tldsec_epp_command_seconds_count") == [1.0]

            serve.wait(epp_seen, "the EPP metrics")
            serve.wait(lambda: one(serve.metrics(), "tldsec_audit_up") == 1, "the audit watch")

            cluster.stop()
            serve.wait(
                lambda: (
                    any("registry database" in f for f in serve.faults())
                    and any("audit database" in f for f in serve.faults())
                ),
                "the outage on /health",
            )
            code, health = serve.health()
            assert code == 503 and health["status"] == "degraded"
            faults = serve.faults()
            where = f"127.0.0.1:{cluster.port}/registry does not answer"
            assert any(where in f for f in faults), faults
            assert serve.axfr_serial() == serial  # the zone is still served
            m = serve.metrics()
            databases = {labels["database"]: v for labels, v in m["tldsec_database_up"]}
            assert databases["registry"] == 0 and databases["audit"] == 0
            assert one(m, "tldsec_health_ok") == 0
            status = tldsec("status", "--home", str(home), check=False)
            assert status.returncode == 1
            assert "cannot reach the registry database" in status.stderr
            assert f"127.0.0.1:{cluster.port}/registry" in status.stderr
            # a cycle asked for during the outage fails; the scheduler retries it with
            # back-off, so /health is 200 again only once a cycle succeeded
            post_cycle(serve)
            serve.wait(
                lambda: any(f.startswith("the last cycle failed") for f in serve.faults()),
                "the failed cycle",
            )

            cluster.start()
            serve.wait(lambda: serve.health()[0] == 200, "recovery to health 200", timeout=180)
            assert "retry 1 of a failed cycle" in serve.log.read_text()
            assert serve.process.poll() is None
            assert serve.faults() == []
            serve.wait(lambda: one(serve.metrics(), "tldsec_audit_up") == 1, "the audit log")
            status = tldsec("status", "--home", str(home), check=False)
            assert status.returncode == 0, status.stdout + status.stderr
        finally:
            serve.stop()
    finally:
        cluster.close()
