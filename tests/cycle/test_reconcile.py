"""Reconciliation of the unsigned zone with the registry (issue 13, attack 2).

A delegation added to the cycle's work copy of the unsigned zone (with its build record
made to match) must never be published: the cycle refuses to build on an unsigned file
that is not the one it built and reconciled, rebuilds from the registry, and raises an
incident. The registry's digest, read by reconciliation's own queries, equals the
zone's for random registries and change sequences (SQLite and PostgreSQL); a record the
registry does not hold, in the whole zone or in a changed owner, is named.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import func, select

from tests.distribute.homes import (
    Registry,
    audit_events,
    ds_for,
    seeded_home_fixtures,
    zone_home,
)
from tests.fixtures.registry import RegistryWorld
from tests.zone.test_incremental import APEX, SETUP, _rounds, apply, build, world_on
from tldsec.cli.main import main
from tldsec.cycle import reconcile
from tldsec.errors import ExitCode
from tldsec.registry.models import ZoneChange
from tldsec.zone.builder import canonical_key
from tldsec.zone.buildinfo import BuildInfo, info_path

SCOPE = reconcile.Apex("example.", 1, frozenset(f"{h.rstrip('.')}." for h, _ in APEX.glue))
EVIL = "evil.example. 86400 IN NS ns1.evil.net.\n"


def insert_in_order(path: Path, line: str) -> None:
    """Put ``line`` where the builder would have (canonical order, before the trailer),
    and make the build record describe the edited file, as an attacker would."""
    lines = path.read_text().splitlines(keepends=True)
    owner = line.split()[0]
    at = next(
        i
        for i, text in enumerate(lines[1:-1], 1)
        if canonical_key(text.split()[0]) > canonical_key(owner)
    )
    lines.insert(at, line)
    path.write_text("".join(lines))
    record = json.loads(info_path(path).read_text())
    data = path.read_bytes()
    record["sha256"], record["size"] = hashlib.sha256(data).hexdigest(), len(data)
    info_path(path).write_text(json.dumps(record))
    info = BuildInfo.load(path)
    assert info is not None and (info.sha256, info.size) == (record["sha256"], len(data))


# --- attack 2, through the CLI ---------------------------------------------------------


template, home, registry = seeded_home_fixtures(30)


def cycle(home: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main(["cycle", "--home", str(home), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_delegation_added_to_the_unsigned_work_file_is_never_published(
    home: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cycle(home, capsys)[0] == 0
    work = zone_home(home).work / "unsigned.zone"
    insert_in_order(work, EVIL)
    registry.add_ds("dom1.example", ds_for(1))

    code, second = cycle(home, capsys)
    assert code == 0 and second["outcome"] == "published"
    assert second["stats"]["incremental_build"] == 0  # the edited file was not built on
    zone = (zone_home(home).dist / f"{second['serial']}.zone").read_text()
    assert "evil.example." not in zone and "dom1.example.\t86400\tIN\tDS\t10001" in zone
    state = json.loads((zone_home(home).cycle_state).read_text())
    assert state["incident"]["kind"] == "integrity"
    assert "edited outside the builder" in state["incident"]["message"]
    assert "zone.integrity_failed" in audit_events(home)
    report = json.loads((zone_home(home).last_report).read_text())
    assert report["meta"]["reconciliation"].startswith("the whole zone: ")

    # The next cycle builds incrementally again, and reconciles the changed owners.
    registry.add_ds("dom2.example", ds_for(2))
    code, third = cycle(home, capsys)
    assert code == 0 and third["stats"]["incremental_build"] == 1
    report = json.loads((zone_home(home).last_report).read_text())
    assert "changed owners" in report["meta"]["reconciliation"]


# --- the digests, on random registries ---------------------------------------------------


def reconcile_rounds(world: RegistryWorld, directory: Path, rounds: list[list[tuple]]) -> int:  # type: ignore[type-arg]
    """After each round: the full build reconciles in full, the incremental build
    reconciles on the changed owners; returns how many rounds compared something."""
    world.add_registrar("alpha")
    full_file, inc_file = directory / "full.zone", directory / "inc.zone"
    seen = 0
    compared = 0
    for serial, ops in enumerate(rounds, start=1):
        for op in ops:
            apply(world, op)
        world.clock.advance(timedelta(seconds=1))
        a = build(world, full_file, serial, incremental=False)
        b = build(world, inc_file, serial)
        if isinstance(a, str) or isinstance(b, str):
            continue
        # What the builder withheld (zone.quarantine: a reserved name, a bad row) is left
        # out on both sides, as the cycle does.
        scope = replace(SCOPE, withheld=frozenset(f"{q.name}." for q in a.quarantined))
        assert {q.name for q in a.quarantined} == {q.name for q in b.quarantined}
        with world.db.snapshot() as s:
            whole = reconcile.full(s, full_file, scope)
            assert whole.equal, whole.describe()
            changed = s.scalars(select(ZoneChange.name).where(ZoneChange.id > seen)).all()
            part = reconcile.owners(s, inc_file, scope, changed)
            assert part.equal, part.describe()
            assert reconcile.full(s, inc_file, scope) == whole
            seen = s.scalar(select(func.max(ZoneChange.id))) or 0
        compared += whole.zone.count > 0
    return compared


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=_rounds)
def test_the_registry_digest_equals_the_zones_on_sqlite(
    tmp_path_factory: pytest.TempPathFactory, rounds: list[list[tuple[object, ...]]]
) -> None:
    directory = tmp_path_factory.mktemp("rec")
    with world_on("sqlite", directory) as world:
        reconcile_rounds(world, directory, rounds)


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=_rounds)
def test_the_registry_digest_equals_the_zones_on_postgres(
    tmp_path_factory: pytest.TempPathFactory, rounds: list[list[tuple[object, ...]]]
) -> None:
    directory = tmp_path_factory.mktemp("rec")
    with world_on("postgres", directory) as world:
        reconcile_rounds(world, directory, rounds)


def test_records_the_registry_does_not_hold_are_named(tmp_path: Path) -> None:
    with world_on("sqlite", tmp_path) as world:
        world.add_registrar("alpha")
        for op in SETUP:
            apply(world, op)
        path = tmp_path / "z.zone"
        assert not isinstance(build(world, path, 1, incremental=False), str)
        insert_in_order(path, EVIL)
        with world.db.snapshot() as s:
            whole = reconcile.full(s, path, SCOPE)
            assert not whole.equal and whole.differing == ("evil.example.",)
            assert "evil.example." in whole.describe()
            # A changed owner whose block the builder got wrong.
            text = path.read_text().replace(
                "a.example. 86400 IN NS ns.ext.net.", "a.example. 86400 IN NS ns.evil.net."
            )
            path.write_text(text)
            part = reconcile.owners(s, path, SCOPE, ["a.example"])
            assert not part.equal and part.differing == ("a.example.",)
            # ... and one the change did not touch is for the whole-zone run to find.
            assert reconcile.owners(s, path, SCOPE, ["b.example"]).equal


def test_the_canonical_form() -> None:
    assert reconcile.canonical("A.Example", "ns", "NS1.Host.NET") == (
        "a.example.",
        "NS",
        "ns1.host.net.",
    )
    assert reconcile.canonical("x.", "DS", "01 8 2 ab cd")[2] == "1 8 2 ABCD"
    assert reconcile.canonical("x.", "AAAA", "2001:0db8:0:0::1")[2] == "2001:db8::1"
    assert reconcile.canonical("x.", "A", "not-an-ip")[2] == "not-an-ip"


def test_a_zone_that_does_not_reconcile_is_refused_before_signing(
    home: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """A builder fault: the unsigned file holds a delegation the registry does not, and
    the cycle's own record vouches for the file (as if the builder had written it). The
    whole-zone reconciliation (due: the last one is a day old) names the owner and
    refuses the zone before anything is signed; the next cycle builds in full."""
    code, first = cycle(home, capsys)
    assert code == 0
    work = zone_home(home).work / "unsigned.zone"
    insert_in_order(work, EVIL)
    state_file = zone_home(home).cycle_state
    state = json.loads(state_file.read_text())
    state["unsigned_sha256"] = hashlib.sha256(work.read_bytes()).hexdigest()
    state["reconciled_full_at"] -= 25 * 3600
    state_file.write_text(json.dumps(state))
    registry.add_ds("dom1.example", ds_for(1))

    code, refused = cycle(home, capsys)
    assert code == ExitCode.INTEGRITY and refused["outcome"] == "refused"
    assert refused["stage"] == "reconcile"
    assert "differ at evil.example." in refused["error"]
    assert "sign" not in refused["timings"]
    assert refused["distributed"] == first["serial"]
    events = audit_events(home)
    assert "zone.integrity_failed" in events and "cycle.failed" in events
    state = json.loads(state_file.read_text())
    assert state["incident"]["kind"] == "reconciliation" and state["unsigned_sha256"] is None

    code, fixed = cycle(home, capsys)
    assert code == 0 and fixed["outcome"] == "published"
    assert fixed["stats"]["incremental_build"] == 0
    zone = (zone_home(home).dist / f"{fixed['serial']}.zone").read_text()
    assert "evil.example." not in zone and "dom1.example.\t86400\tIN\tDS\t10001" in zone
