"""The cycle's build stage: the unsigned zone from the previous one and the registry
changes since, the same file a full build gives, and a full build whenever the previous
file cannot be trusted."""

from __future__ import annotations

from pathlib import Path

from tests.distribute.homes import (
    Registry,
    ds_for,
    fake_clock_cycle,
    seeded_home_fixtures,
)
from tldsec.cycle import Cycle, Outcome
from tldsec.registry.context import rules_from_settings
from tldsec.zone.incremental import build_zone_file

template, home, registry = seeded_home_fixtures(30)
cycle = fake_clock_cycle


def full_build(cycle: Cycle, path: Path, serial: int) -> bytes:
    """What the full build writes for the registry now, at the cycle's serial and time
    (a FakeClock that did not move)."""
    with cycle.registry.snapshot() as s:
        build_zone_file(
            s,
            path,
            zone_id=cycle.zone_id,
            origin=cycle.settings.origin,
            apex=cycle.settings.apex,  # type: ignore[arg-type]
            ttl=cycle.settings.policy.ttl,
            rules=rules_from_settings(cycle.settings),
            serial=serial,
            built_at=cycle.clock.now(),
            incremental=False,
        )
    return path.read_bytes()


def test_a_cycle_after_registry_changes_builds_incrementally(
    cycle: Cycle, registry: Registry, tmp_path: Path
) -> None:
    first = cycle.run()
    assert first.outcome is Outcome.PUBLISHED and first.stats["incremental_build"] == 0
    registry.add_ds("dom1.example", ds_for(1))
    registry.remove_ds("dom5.example", ds_for(5))
    second = cycle.run()
    assert second.outcome is Outcome.PUBLISHED and second.stats["incremental_build"] == 1
    assert second.stats["delegations"] == 30
    unsigned = cycle.paths.work / "unsigned.zone"
    assert second.serial is not None
    assert unsigned.read_bytes() == full_build(cycle, tmp_path / "full.zone", second.serial)
    zone = cycle.store.zone_path(second.serial).read_text()
    assert "dom1.example.\t86400\tIN\tDS\t10001" in zone
    assert "dom5.example.\t86400\tIN\tDS" not in zone


def test_an_edited_unsigned_file_is_rebuilt_in_full(cycle: Cycle, registry: Registry) -> None:
    cycle.run()
    unsigned = cycle.paths.work / "unsigned.zone"
    unsigned.write_text(unsigned.read_text().replace("dom2.example.", "dom2x.example."))
    registry.add_ds("dom3.example", ds_for(3))
    result = cycle.run()
    assert result.outcome is Outcome.PUBLISHED and result.stats["incremental_build"] == 0
    assert "dom2x" not in unsigned.read_text()
