"""A serve without the signer role (the registry role of a split deployment) knows no
zone's last build, so it has no pending-change gauges: counting every change the registry
ever held made ``tldsec_pending_oldest_age_seconds`` grow without end and
``TldsecChangesNotPublished`` fire on a healthy registry (decision 75's "not done")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.fixtures.registry import START, RegistryWorld
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.service.metrics import Metrics, Snapshot
from tldsec.service.probes import Probes


def test_a_registry_role_serve_gives_no_pending_change_gauges(
    registry_world: RegistryWorld, tmp_path: Path
) -> None:
    registry_world.add_registrar("alpha")
    with registry_world.db.write() as s:  # a change the signer's cycle published long ago
        create_domain(s, registry_world.tx("alpha"), DomainCreate("a.example", "a-1"))
    probes = Probes({"registry": f"sqlite:///{tmp_path / 'registry.db'}"}, registry_facts=True)
    try:
        facts, _ = probes.run(START + timedelta(days=30))
    finally:
        probes.close()
    assert facts.databases == {"registry": None}
    snapshot = Snapshot(now=START + timedelta(days=30), signing=False, facts=facts)
    exposed = Metrics(lambda: snapshot).exposition().decode()
    assert "tldsec_database_up" in exposed
    assert "tldsec_pending" not in exposed
