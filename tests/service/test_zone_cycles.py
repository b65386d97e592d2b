"""Each zone's cycle in a home of two zones (decision 67): its own child with ``--zone``,
the full signs one at a time at nice 10 with a worker left for the other zone, and a
zone's held cycle a fault of that zone alone in /health. The children are small scripts
standing in for ``tldsec cycle`` (they report what they were started with); the
schedulers, checkers and slots are serve's own, on a real home."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.cycle import Pending, open_cycle
from tldsec.cycle.schedule import Scheduler
from tldsec.distribute.config import load_distribute_settings
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.keys.database import open_signer_db
from tldsec.keys.service import KeyManager
from tldsec.service.supervisor import Service
from tldsec.settings import load_settings

CHILD = """
import json, os, pathlib, sys, time
zone = sys.argv[sys.argv.index("--zone") + 1]
go = pathlib.Path({go!r}) / zone
while not go.exists():  # the test says when this "cycle" ends
    time.sleep(0.02)
nice = os.getpriority(os.PRIO_PROCESS, 0)
print(json.dumps({{"outcome": "unchanged", "argv": sys.argv[1:], "nice": nice}}))
"""


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """``tldsec init`` for example., then shop. added as ``zone add`` will: its table,
    its registry row, its first keys as zone 2 of the signer database."""
    path = tmp_path / "home"
    assert main(["init", "--home", str(path), "--origin", "example.", "--keystore", "file"]) == 0
    capsys.readouterr()
    toml = path / "tldsec.toml"
    text = toml.read_text().replace(
        '[zone]\norigin = "example."\n', "[zones.example]\n\n[zones.shop]\n"
    )
    text += textwrap.dedent(
        """
        [cycle]
        workers = 3
        concurrent = 2
        full_signs = 1
        """
    )
    if "[distribute]" in text:
        text = text.replace("[distribute]\n", '[distribute]\nstore_dir = "zones/{zone}/dist"\n', 1)
    else:
        text += '\n[distribute]\nstore_dir = "zones/{zone}/dist"\n'
    toml.write_text(text)
    settings = load_settings(path)
    with sqlite3.connect(path / "registry.db") as conn:  # until 'tldsec zone add'
        conn.execute("INSERT INTO zone (origin, added_at) VALUES ('shop.', '2026-01-01 00:00')")
    engine = open_signer_db(settings.signer_db_url)
    try:
        shop = KeyManager(
            engine, MemoryKeyStore(), settings.policy, SystemClock(), origin="shop", zone_id=2
        )
        shop.bootstrap("zone add shop.")
    finally:
        engine.dispose()
    return path


def test_each_zone_its_child_full_signs_in_turn_niced_with_a_core_left(
    home: Path, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    service = _service(home, tmp_path, go)
    assert list(service.zone_cycles) == ["example.", "shop."]

    async def scenario() -> dict[str, Any]:
        async def until(what: Any) -> None:
            async with asyncio.timeout(60):
                while not what():
                    await asyncio.sleep(0.02)

        zones = service.zone_cycles
        # example. has published nothing: its checker says it signs in full. shop.
        # signs in full too (a key step, say): it waits for example.'s place.
        example = asyncio.create_task(service.run_zone_cycle(zones["example."], False))
        await until(lambda: zones["example."].child is not None)
        assert service.health()["zones"]["example."]["full_sign"] == "no zone distributed yet"
        shop = asyncio.create_task(_run(service, "shop.", full="key step due"))
        await until(lambda: service.slots.state("shop.") is not None)
        assert service.slots.state("shop.") == "waiting" and zones["shop."].child is None
        assert service.health()["zones"]["shop."]["cycle"] == "waiting"
        (go / "example.").touch()
        await until(lambda: zones["shop."].child is not None)
        (go / "shop.").touch()
        return {"example.": await example, "shop.": await shop}

    with open_cycle(
        service.settings.for_zone("example."), SystemClock(), keystore=False, audit=False
    ) as example:
        service._scheduler(example)
        results = asyncio.run(scenario())

    for origin, result in results.items():
        assert result["argv"] == ["--zone", origin, "--workers", "2"]
        assert result["nice"] == 10
    assert service.slots.running == {} and service.slots.waiting == {}

    # shop.'s cycle held (a collapse): its fault, named, and example.'s entry clean
    example_scheduler = service.zone_cycles["example."].scheduler
    assert example_scheduler is not None
    example_scheduler.last = {"outcome": "unchanged"}
    shop_scheduler = service.zone_cycles["shop."].scheduler = Scheduler(
        check=_nothing, run_cycle=_no_cycle, clock=SystemClock(), debounce=0, interval=60,
        check_seconds=1,
    )  # fmt: skip
    shop_scheduler.last = {
        "outcome": "held",
        "stage": "guard",
        "reason": "the zone would lose 40% of its delegations",
    }
    health = service.health()
    assert health["zone"] is None and health["serial"] is None  # several zones
    assert (
        "shop.: the last cycle held at guard: the zone would lose 40% of its delegations"
        in health["faults"]
    )
    assert not any(f.startswith("example.: the last cycle") for f in health["faults"])
    assert health["zones"]["example."]["faults"] == []
    assert health["zones"]["shop."]["last_cycle"]["outcome"] == "held"
    summary = service.serve_summary()["zones"]  # what 'tldsec status' asks serve for
    assert summary["shop."]["faults"] == [
        "the last cycle held at guard: the zone would lose 40% of its delegations"
    ]
    assert summary["example."]["faults"] == []
    metrics = service.metrics.exposition()
    assert b'tldsec_cycles_total{outcome="unchanged",zone="shop."} 1.0' in metrics
    assert b'tldsec_cycles_total{outcome="unchanged",zone="example."} 1.0' in metrics
    json.dumps(health)  # /health serialises it


def test_an_incremental_cycle_starts_beside_a_full_sign(home: Path, tmp_path: Path) -> None:
    """example. has published (its cycle patches); shop. signs in full: both run at
    once, and only the full sign is niced."""
    go = tmp_path / "go"
    service = _service(home, tmp_path, go)
    zones = service.zone_cycles

    async def scenario() -> dict[str, Any]:
        async def until(what: Any) -> None:
            async with asyncio.timeout(60):
                while not what():
                    await asyncio.sleep(0.02)

        # What _full_sign found: shop. in full, example. by a patch (no checker asked).
        zones["shop."].checker = None
        zones["example."].checker = None
        full = asyncio.create_task(_run(service, "shop.", full="no zone distributed yet"))
        await until(lambda: zones["shop."].child is not None)
        small = asyncio.create_task(_run(service, "example.", full=None))
        await until(lambda: zones["example."].child is not None)
        assert service.slots.others_running("shop.")
        (go / "example.").touch()
        (go / "shop.").touch()
        return {"shop.": await full, "example.": await small}

    results = asyncio.run(scenario())
    assert results["shop."]["nice"] == 10
    assert results["example."]["nice"] == os.getpriority(os.PRIO_PROCESS, 0)
    assert results["example."]["argv"] == ["--zone", "example."]


def _service(home: Path, tmp_path: Path, go: Path) -> Service:
    """serve's Service on ``home`` whose cycle children are ``CHILD``, each ending when
    the test creates ``go/ORIGIN``."""
    go.mkdir()
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(go=str(go)))
    settings = load_settings(home)
    return Service(
        settings,
        SystemClock(),
        load_distribute_settings(settings),
        cycle_argv=[sys.executable, str(script)],
        cycle_timeout=120,
    )


async def _run(service: Service, origin: str, *, full: str | None) -> dict[str, Any] | None:
    """``run_zone_cycle`` with the kind of cycle given, as ``_full_sign`` would find it."""
    zone = service.zone_cycles[origin]
    await service.slots.acquire(origin, full is not None)
    zone.full = full
    try:
        return await service._cycle_child(zone, False)
    finally:
        service.slots.release(origin)
        zone.full = None


async def _nothing() -> Pending | None:
    return None


async def _no_cycle(force: bool) -> dict[str, Any] | None:
    raise AssertionError("no cycle runs here")
