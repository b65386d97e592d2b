"""The cycle's part of a change's trace (decision 51): a real cycle on a seeded home
records which serial included the registrar's change and when that serial was built,
signed, verified and published; a cycle with nothing to do records nothing; the next
change is in the next serial only. ``tldsec trace`` prints it, and says why when an id
traces nothing."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from tests.distribute.homes import (
    Registry,
    ds_for,
    fake_clock_cycle,  # noqa: F401 (the cycle fixture)
    seeded_home_fixtures,
    tldsec,
)
from tldsec.cycle import Cycle
from tldsec.cycle.result import Outcome
from tldsec.registry.models import ChangeTrace, SerialTrace, ZoneChange
from tldsec.trace.query import trace

template, home, registry = seeded_home_fixtures(6)


def test_a_cycle_traces_the_changes_it_built(home: Path, registry: Registry, cycle: Cycle) -> None:
    assert cycle.run().outcome is Outcome.PUBLISHED  # the seeded registry (traced "test")
    with registry.db.read() as s:
        before = set(s.scalars(select(ChangeTrace.change_id)))
    registry.add_ds("dom1.example", ds_for(101))
    first = cycle.run()
    assert first.outcome is Outcome.PUBLISHED and first.serial is not None
    assert cycle.run().outcome is Outcome.UNCHANGED
    registry.add_ds("dom2.example", ds_for(102))
    second = cycle.run()
    assert second.serial is not None

    with registry.db.read() as s:
        rows = s.execute(select(ChangeTrace.change_id, ChangeTrace.serial)).all()
        new = {(c, serial) for c, serial in rows if c not in before}
        ids = dict(s.execute(select(ZoneChange.id, ZoneChange.name)).all())
        stages = {
            (r.serial, r.stage)
            for r in s.scalars(select(SerialTrace).where(SerialTrace.serial >= first.serial))
        }
        trails = {t.domain: t for t in trace(s, "test")}
    # each change in exactly the serial that built it
    assert {(ids[c], serial) for c, serial in new} == {
        ("dom1.example", first.serial),
        ("dom2.example", second.serial),
    }
    for serial in (first.serial, second.serial):
        assert {st for sr, st in stages if sr == serial} == {
            "built", "signed", "verified", "published"
        }  # fmt: skip
    trail = trails["dom1.example"]
    assert [s.stage for s in trail.steps] == [
        "accepted",
        "built",
        "signed",
        "verified",
        "published",
    ]
    assert all(s.serial == first.serial for s in trail.steps[1:])
    assert trail.registrar == "alpha" and trail.live is None
    assert trail.state() == (f"in zone serial {first.serial}, not yet served by every secondary")

    out = tldsec("trace", "test", "--home", str(home)).stdout
    assert f"change {trail.change_id}: domain-update of dom1.example by alpha (svTRID test)" in out
    assert f"published serial {first.serial}" in out
    data = json.loads(tldsec("trace", "test", "--home", str(home), "--json").stdout)
    mine = [d for d in data if d["domain"] == "dom2.example"][-1]  # not the seed's create
    assert [s["stage"] for s in mine["steps"]][-1] == "published"
    assert mine["steps"][-1]["serial"] == second.serial


def test_an_id_that_traces_nothing_says_why(home: Path) -> None:
    out = tldsec("trace", "NOPE-1", "--home", str(home), check=False)
    assert out.returncode == 1
    assert "no zone change and no EPP transaction has svTRID 'NOPE-1'" in out.stderr
