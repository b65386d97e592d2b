"""The zone cycle: build -> keys -> sign -> verify -> distribute, on a file-key home.

A cycle distributes only verified zones, reuses signatures, does nothing when nothing
changed, runs when the registry, the keys or the signatures' age say so, keeps the last
good zone and raises an incident when verification fails, and never lets serials go
backwards (SoftHSM2 and real name servers: tests/system/test_cycle_*.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.distribute.homes import (
    Registry,
    audit_events,
    ds_for,
    seeded_home_fixtures,
    zone_home,
)
from tests.fixtures.faults import signer_forgets_ds_signatures
from tldsec.cli.main import main
from tldsec.clock import FakeClock, SystemClock
from tldsec.cycle import Cycle, Outcome, Pending, open_cycle
from tldsec.cycle.schedule import Scheduler
from tldsec.distribute.ixfr import read_diff
from tldsec.errors import CycleError
from tldsec.registry.models import ZoneSerial
from tldsec.settings import load_settings

template, home, registry = seeded_home_fixtures(40)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SystemClock().now())


def cycle_of(home: Path, clock: FakeClock) -> Iterator[Cycle]:
    with open_cycle(load_settings(home), clock) as cycle:
        yield cycle


@pytest.fixture
def cycle(home: Path, clock: FakeClock) -> Iterator[Cycle]:
    yield from cycle_of(home, clock)


def test_the_first_cycle_distributes_a_verified_zone(cycle: Cycle, home: Path) -> None:
    assert cycle.pending() is not None and cycle.pending().kind == "first"  # type: ignore[union-attr]
    result = cycle.run()
    assert result.outcome is Outcome.PUBLISHED and result.ok
    assert cycle.store.current() == result.serial == result.distributed
    zone = cycle.store.zone_path(result.serial).read_text()  # type: ignore[arg-type]
    assert "dom0.example.\t86400\tIN\tDS\t10000 13 2" in zone and "\tNSEC3PARAM\t" in zone
    assert list(result.timings) == ["build", "reconcile", "keys", "sign", "verify", "distribute"]
    assert result.stats["delegations"] == 40 and result.stats["signatures_reused"] == 0
    report = json.loads((zone_home(home).last_report).read_text())
    assert report["passed"] and report["serial"] == result.serial
    events = audit_events(home)
    for event in ("signer.run_completed", "zone.verified", "zone.published", "cycle.completed"):
        assert event in events


def test_a_cycle_with_nothing_to_do_builds_nothing(cycle: Cycle) -> None:
    first = cycle.run()
    assert cycle.pending() is None
    again = cycle.run()
    assert again.outcome is Outcome.UNCHANGED and again.ok
    assert again.serial is None and again.timings == {}
    assert again.distributed == first.serial == cycle.store.current()
    with cycle.registry.read() as s:  # no serial was even allocated
        assert s.get(ZoneSerial, 1).serial == first.serial  # type: ignore[union-attr]


def test_a_ds_change_is_signed_reusing_the_other_signatures(
    cycle: Cycle, registry: Registry
) -> None:
    first = cycle.run()
    registry.add_ds("dom1.example", ds_for(1))
    pending = cycle.pending()
    assert pending is not None and pending.kind == "registry"
    second = cycle.run()
    assert second.outcome is Outcome.PUBLISHED and second.serial > first.serial  # type: ignore[operator]
    s = second.stats
    # The previous zone is patched: only the SOA, the new DS and dom1's NSEC3 (its
    # bitmap gains DS and RRSIG) are signed; every other signature is copied.
    assert s["incremental_sign"] == 1 and s["incremental_verify"] == 1
    assert s["signatures_made"] == 3
    diff = read_diff(cycle.store.diff_path(first.serial, second.serial))  # type: ignore[arg-type]
    assert any(line.startswith("dom1.example.\t86400\tIN\tDS\t10001") for line in diff.added)
    assert any(line.startswith("dom1.example.\t86400\tIN\tRRSIG\tDS") for line in diff.added)
    registry.remove_ds("dom1.example", ds_for(1))
    third = cycle.run()
    diff = read_diff(cycle.store.diff_path(second.serial, third.serial))  # type: ignore[arg-type]
    assert any(line.startswith("dom1.example.\t86400\tIN\tDS\t10001") for line in diff.deleted)


def test_a_change_that_commits_late_still_starts_a_cycle(
    cycle: Cycle, registry: Registry, clock: FakeClock
) -> None:
    """On PostgreSQL a transaction can take change id N, and commit after the one that
    took N + 1 has been built: the build remembers N as unseen, and once N shows up the
    scheduler must see work even though no id above the last build's is new."""
    from sqlalchemy import func, select

    from tldsec.registry.models import ZoneChange

    cycle.run()
    registry.add_ds("dom1.example", ds_for(1))
    with registry.db.write() as s:
        newest = s.scalar(select(func.max(ZoneChange.id)))
        assert newest is not None
        # N + 2 commits; N + 1 is still in flight.
        s.add(ZoneChange(id=newest + 2, at=clock.now(), name="dom2.example", reason="ds"))
    assert cycle.run().outcome is Outcome.PUBLISHED
    assert cycle.pending() is None
    with registry.db.write() as s:  # N + 1 commits now, late
        s.add(ZoneChange(id=newest + 1, at=clock.now(), name="dom3.example", reason="ds"))
    pending = cycle.pending()
    assert pending is not None and pending.kind == "registry" and "late" in pending.reason
    cycle.run()
    assert cycle.pending() is None


def test_time_brings_signature_refresh_and_key_steps(cycle: Cycle, clock: FakeClock) -> None:
    first = cycle.run()
    state = cycle.state()
    assert state.resign_at is not None and state.earliest_expiry is not None
    clock.advance(timedelta(days=1))
    assert cycle.pending() is None
    clock.advance(timedelta(days=2))  # validity 6-8 days, refresh below 4 (DPS 6.5)
    pending = cycle.pending()
    assert pending is not None and pending.kind == "refresh"
    refreshed = cycle.run()
    assert refreshed.outcome is Outcome.PUBLISHED and refreshed.stats["signatures_made"] > 1
    assert cycle.state().resign_at > state.resign_at  # type: ignore[operator]
    # 90 days on, the ZSK's lifetime is over (DPS 6.4): its rollover step is due.
    clock.advance(timedelta(days=90))
    pending = cycle.pending()
    assert pending is not None and pending.kind == "keys"
    rolled = cycle.run()
    assert rolled.outcome is Outcome.PUBLISHED and rolled.transitions
    assert rolled.serial > first.serial  # type: ignore[operator]


def test_a_zone_failing_verification_is_never_distributed(
    cycle: Cycle, registry: Registry, home: Path
) -> None:
    good = cycle.run()
    registry.add_ds("dom2.example", ds_for(2))

    with signer_forgets_ds_signatures():
        refused = cycle.run()
    assert refused.outcome is Outcome.REFUSED and not refused.ok and refused.stage == "verify"
    assert cycle.store.current() == good.serial == refused.distributed
    assert cycle.store.serials() == [good.serial]
    state = cycle.state()
    assert state.incident is not None and state.incident["serial"] == refused.serial
    # The signer's patch no longer fits the tampered file: the incremental gate refuses
    # it as such (a full gate would name the missing signatures: coverage).
    assert {"coverage", "unchanged-bytes"} & set(state.incident["failed_checks"])
    assert Path(state.incident["candidate"]).exists()
    events = audit_events(home)
    assert "zone.verification_failed" in events and "cycle.failed" in events
    assert not list(cycle.store.directory.glob(".*verifying"))  # the gate's copy is gone
    # The change is still pending; once the signer behaves, the next cycle carries it.
    assert cycle.pending() is not None
    fixed = cycle.run()
    assert fixed.outcome is Outcome.PUBLISHED and fixed.serial > refused.serial  # type: ignore[operator]


def test_serials_never_go_backwards_after_a_registry_restore(cycle: Cycle) -> None:
    first = cycle.run()
    with cycle.registry.write() as s:  # the registry database restored from an old backup
        s.execute(update(ZoneSerial).values(serial=5))
    second = cycle.run(force=True)
    assert second.serial == first.serial + 1  # type: ignore[operator]


def test_one_cycle_at_a_time(cycle: Cycle) -> None:
    with cycle.store.writer(), pytest.raises(CycleError, match="another cycle is running"):
        cycle.run()


def test_an_interrupted_cycle_is_redone(cycle: Cycle, home: Path) -> None:
    first = cycle.run()
    # Killed after the commit, before its state was written: the state lags the store.
    state_file = zone_home(home).cycle_state
    data = json.loads(state_file.read_text())
    data["serial"] = first.serial - 1  # type: ignore[operator]
    state_file.write_text(json.dumps(data))
    pending = cycle.pending()
    assert pending is not None and pending.kind == "interrupted"
    assert cycle.run().outcome is Outcome.PUBLISHED
    assert cycle.pending() is None


def test_cli_cycle_and_status(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cycle", "--home", str(home), "--check"]) == 4  # needed
    assert "no zone distributed yet" in capsys.readouterr().out
    assert main(["cycle", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cycle published serial ") and "verify" in out
    assert main(["cycle", "--home", str(home), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "unchanged"
    assert main(["status", "--home", str(home), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["serial"] == status["last_published"]["serial"]
    assert status["last_verification"]["passed"] is True
    assert status["earliest_signature_expiry"] and status["next_key_event"]["due"]
    assert status["pending"] is None and status["incident"] is None
    assert main(["status", "--home", str(home)]) == 0
    text = capsys.readouterr().out
    for label in ("serial", "last cycle", "next key event", "signatures", "verification"):
        assert label in text


class Ticks:
    """A scheduler under test: scripted answers to "is there work?", cycles recorded."""

    def __init__(self, *, change_driven: bool = True) -> None:
        self.now = 0.0
        self.answers: list[Pending | None] = []
        self.runs: list[bool] = []
        self.clock = FakeClock(SystemClock().now())
        self.scheduler = Scheduler(
            check=self._check,
            run_cycle=self._run,
            clock=self.clock,
            debounce=30,
            interval=900,
            check_seconds=2,
            change_driven=change_driven,
            monotonic=lambda: self.now,
        )

    async def _check(self) -> Pending | None:
        return self.answers.pop(0) if self.answers else None

    async def _run(self, force: bool) -> dict[str, object]:
        self.runs.append(force)
        return {"outcome": "published"}

    def tick(self, at: float, answer: Pending | None, forced: bool = False) -> list[bool]:
        self.now = at
        self.answers.append(answer)
        asyncio.run(self.scheduler._tick(forced))
        return self.runs


REGISTRY = Pending("registry", "registry changes")


def test_a_registry_change_waits_for_the_debounce() -> None:
    t = Ticks()
    assert t.tick(0, REGISTRY) == []  # first seen: wait 30 s for more changes
    assert t.tick(10, REGISTRY) == []
    assert t.tick(31, REGISTRY) == [False]  # the burst settled: one cycle for all
    assert t.tick(33, None) == [False]
    assert t.tick(40, REGISTRY) == [False]  # a new change starts a new debounce
    assert t.tick(71, REGISTRY) == [False, False]


def test_changes_made_during_a_cycle_do_not_wait_a_whole_debounce_more() -> None:
    t = Ticks()
    made = t.clock.now()
    t.clock.advance(timedelta(seconds=12))  # a cycle ran meanwhile; the change waited
    assert t.tick(100, Pending("registry", "changes", since=made)) == []
    t.clock.advance(timedelta(seconds=20))
    assert t.tick(101, Pending("registry", "changes", since=made)) == [False]


def test_keys_refresh_and_requests_run_at_once() -> None:
    t = Ticks()
    assert t.tick(0, Pending("keys", "key step due")) == [False]
    assert t.tick(1, Pending("refresh", "signatures")) == [False, False]
    assert t.tick(2, None, forced=True) == [False, False, True]


def test_without_change_driven_mode_changes_wait_for_the_interval() -> None:
    t = Ticks(change_driven=False)
    assert t.tick(100, REGISTRY) == []
    assert t.tick(899, REGISTRY) == []
    assert t.tick(900, REGISTRY) == [False]  # DPS 3.5.2: within the cycle interval
