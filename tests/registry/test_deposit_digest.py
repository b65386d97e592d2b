"""A bulk import keeps the registry's zone digest (decision 42): the ledger equals the
rows, the running sum of the zone-change deltas equals the ledger, and the next cycle's
check of the zone built after the import (full, then incremental after an EPP change)
finds them equal, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.cycle.test_reconcile import SCOPE
from tests.registry.test_zone_digest import running_sum
from tests.zone.test_incremental import apply, build, world_on
from tldsec.cycle import ledger
from tldsec.registry import registrars, zonedigest
from tldsec.registry.context import Actor
from tldsec.registry.deposit.service import import_file
from tldsec.registry.zonedigest import Tally
from tldsec.zone.buildinfo import BuildInfo

DS = "12345 13 2 " + "AB" * 32
CSV = f"""registrar,gamma,Gamma,ops@gamma.test
host,ns1.c.example,gamma,192.0.2.77 2001:db8::77,,
host,ns.ext2.net,gamma,,,
domain,c.example,gamma,2019-01-01T00:00:00Z,2030-01-01T00:00:00Z,,,ns1.a.example ns.ext2.net,{DS},,
domain,d.example,gamma,2019-01-01T00:00:00Z,2030-01-01T00:00:00Z,,,ns1.c.example,,,
domain,e.example,gamma,2019-01-01T00:00:00Z,2030-01-01T00:00:00Z,,serverHold,ns1.c.example,{DS},,
domain,f.example,gamma,2019-01-01T00:00:00Z,2030-01-01T00:00:00Z,,,,,,
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_import_keeps_the_zone_digest_and_the_next_cycle_check_passes(
    backend: str, tmp_path: Path
) -> None:
    with world_on(backend, tmp_path) as world:
        world.add_registrar("alpha")
        # Before the import, EPP objects: ns1.a.example is glue (b.example uses it).
        for op in (
            ("host_create", "ns.ext.net", []),
            ("create", "a.example", ["ns.ext.net"], False),
            ("host_create", "ns1.a.example", [1, 3]),
            ("create", "b.example", ["ns1.a.example"], True),
        ):
            assert apply(world, op), op
        source = tmp_path / "d.csv"
        source.write_text(CSV)
        report = import_file(world.db, source, world.tx(), batch=2, workers=1)
        assert report.refused == () and report.imported is not None
        # The EPP changes after it are gamma's, as alpha's in ``apply``.
        with world.db.read() as s:
            gamma = registrars.get_registrar(s, "gamma")
        world.actors["alpha"] = Actor("gamma", gamma.id)
        with world.db.snapshot() as s:
            rows = Tally.of(zonedigest.registry_records(s, zone_id=1))
            assert rows.count == 4 + 5 + 2  # EPP's 4; c: NS x2, DS; d: NS; glue of ns1.c x2
            assert zonedigest.table_sum(s, 1) == rows
            assert running_sum(s) == rows
            assert zonedigest.differing(s, zone=(1, "example.")) == ()

        full, inc, old = tmp_path / "full.zone", tmp_path / "inc.zone", tmp_path / "inc.old"
        position: ledger.Position | None = None
        for serial, change in enumerate(
            [None, ("ds_add", "d.example", 7), ("delete", "c.example")], start=1
        ):
            if change is not None:
                assert apply(world, change), change
            built = build(world, full, serial, incremental=False)
            assert not isinstance(built, str), built
            old.unlink(missing_ok=True)
            if inc.exists():
                os.link(inc, old)
            patched = build(world, inc, serial)
            assert not isinstance(patched, str), patched
            info = BuildInfo.load(inc)
            assert info is not None
            with world.db.snapshot() as s:
                checked = ledger.check(
                    s,
                    inc,
                    replace(SCOPE, withheld=frozenset(f"{q.name}." for q in patched.quarantined)),
                    position,
                    change_id=info.last_change_id,
                    unsettled=info.unsettled,
                    old_path=old if patched.incremental and position is not None else None,
                    rewritten=info.rewritten,
                )
                assert checked.equal, checked.describe()
                assert checked.position.registry == zonedigest.table_sum(s, 1)
                assert running_sum(s) == zonedigest.table_sum(s, 1)
            position = checked.position
        assert "\nc.example." not in inc.read_text()  # deleted; its host lives on as glue
        assert "\nd.example." in inc.read_text() and "\nns1.c.example." in inc.read_text()
