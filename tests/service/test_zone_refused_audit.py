"""serve's primary refusing a damaged zone file in a home of two zones (decisions 63, 75):
the ``zone.integrity_failed`` audit entry names the zone whose file it refused, so an
auditor asking for that zone's entries finds it, and the other zone's are clean."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.service.twozones import cycle, two_zone_home
from tldsec.clock import SystemClock
from tldsec.distribute.config import load_distribute_settings
from tldsec.service.supervisor import Service
from tldsec.settings import load_settings


def flip_a_signature(zone: Path) -> None:
    """One base64 character of the file's first RRSIG changed in place (size and mtime
    kept, as a bit flip on disk would)."""
    st = zone.stat()
    data = bytearray(zone.read_bytes())
    end = data.index(b"\n", data.index(b"\tRRSIG\t"))
    data[end - 5] = ord("A") if data[end - 5] != ord("A") else ord("B")
    with open(zone, "r+b") as f:
        f.write(data)
    os.utime(zone, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_refused_zone_file_s_audit_entry_names_its_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = two_zone_home(tmp_path / "home", capsys)
    example = cycle(home, "example.", capsys)
    shop = cycle(home, "shop.", capsys)
    settings = load_settings(home)
    dist = load_distribute_settings(settings)
    flip_a_signature(Path(dist.store_for("shop.")) / f"{shop['serial']}.zone")
    service = Service(settings, SystemClock(), dist, [])

    async def start() -> tuple[int | None, int | None]:
        primary = service._primary()
        await primary.refresh()
        return primary.zone("example.").serial, primary.zone("shop.").serial

    assert asyncio.run(start()) == (example["serial"], None)
    with sqlite3.connect(home / "audit.db") as conn:
        rows = conn.execute(
            "SELECT zone, details FROM audit_entries WHERE event = 'zone.integrity_failed'"
        ).fetchall()
    ((zone, details),) = rows
    assert zone == "shop."
    details = json.loads(details)
    assert details["stage"] == "primary" and details["serial"] == shop["serial"]
    assert details["serving"] is None
