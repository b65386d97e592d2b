"""GET /health's faults, one by one, on a Service that is not started: a cycle child
that dies without its result (as one with a wrong PIN does), a database that does not
answer, an audit log that cannot be read. Each makes /health 503 with one line naming
it; the app answers over a real socket."""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.cli.test_serve_cycle_timeout import home, registry
from tldsec.clock import SystemClock
from tldsec.cycle import open_cycle
from tldsec.service.http import HttpServer
from tldsec.service.probes import Facts, Probes
from tldsec.service.supervisor import Service

__all__ = ["home"]  # the fixture


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def served(service: Service, path: str) -> tuple[int, bytes]:
    async def scenario() -> tuple[int, bytes]:
        server = HttpServer(service.app())
        _, port = await server.start("127.0.0.1", 0)
        try:
            return await asyncio.to_thread(get, port, path)
        finally:
            await server.close()

    return asyncio.run(scenario())


def test_a_cycle_child_that_dies_is_a_fault(home: Path) -> None:
    dies = [sys.executable, "-c", "import sys; sys.exit(3)"]
    service = registry(home, dies, timeout=30)
    with open_cycle(service.settings, SystemClock(), keystore=False, audit=False) as checker:
        service.scheduler = service._scheduler(checker)
        service.scheduler.last = asyncio.run(service._run_cycle(False))
    code, body = served(service, "/health")
    assert code == 503
    faults = json.loads(body)["faults"]
    assert (
        "the last cycle failed at process: the cycle process exited with status 3 and no result"
        in faults
    )
    code, metrics = served(service, "/metrics")
    assert code == 200
    assert b'tldsec_cycles_total{outcome="failed",zone="example."} 1.0' in metrics
    assert b"tldsec_health_ok 0.0" in metrics


def test_databases_that_do_not_answer_are_named_without_their_password(
    home: Path, tmp_path: Path
) -> None:
    service = registry(home, [], timeout=30)
    url = "postgresql+psycopg://app:s3cret-pw@127.0.0.1:1/registry"
    probes = Probes({"registry": url, "audit": f"sqlite:///{tmp_path / 'audit.db'}"})
    try:
        facts, rows = probes.run(SystemClock().now())
    finally:
        probes.close()
    assert rows == [] and facts.databases["audit"] is None
    error = facts.databases["registry"]
    assert error is not None and "s3cret" not in error
    assert error.startswith("registry database postgresql+psycopg://app:***@127.0.0.1:1/registry")
    service.facts = facts
    health = service.health()
    assert health["status"] == "degraded" and error in health["faults"]
    service.facts = Facts(databases={"registry": None, "audit": None})
    assert error not in service.health()["faults"]


def test_an_audit_log_that_cannot_be_read_is_a_fault(home: Path) -> None:
    service = registry(home, [], timeout=30)
    service.audit_watch_error = "audit database: connection refused"
    assert "audit log: audit database: connection refused" in service.health()["faults"]
    service.audit_watch_error = None
    service.audit_state = {"error": "audit database: gone"}
    assert "audit log: audit database: gone" in service.health()["faults"]
