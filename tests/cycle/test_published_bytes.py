"""Bytes nobody verified again are bytes the gate can prove (issue 13, attack 3).

One byte of an RRSIG flipped in the last published zone file, its size and modification
time restored: the next cycle must not copy it into the next serial (the signer reuses
nothing from a zone that differs from its recorded digest; it signs and verifies in full
and raises an incident), and the hidden primary must never load or serve such a file --
at start it serves the newest serial that checks out, and a running primary keeps
serving the last good serial.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.distribute.conftest import LoopThread, start_primary
from tests.distribute.homes import (
    Registry,
    audit_events,
    ds_for,
    seeded_home_fixtures,
    zone_home,
)
from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.distribute.config import load_distribute_settings
from tldsec.distribute.store import ZoneStore
from tldsec.errors import ExitCode
from tldsec.filedigest import digest_file, record_path
from tldsec.service.supervisor import Service as ServeRegistry
from tldsec.settings import load_settings

template, home, registry = seeded_home_fixtures(30)


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


def cycle(home: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code = main(["cycle", "--home", str(home), "--json"])
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    codes = {"published": 0, "unchanged": 0, "refused": 3, "held": 4}  # docs/operations.md
    assert code == codes.get(result["outcome"], 1)
    return result


def store_of(home: Path) -> ZoneStore:
    settings = load_settings(home)
    return ZoneStore(settings.zone_dir / "dist", settings.origin)


def flip_rrsig_byte(zone: Path, owner: str) -> str:
    """Change one base64 character of ``owner``'s DS RRSIG in place; the file keeps its
    size and modification time (as a bit flip on disk would). Returns the damaged line."""
    st = zone.stat()
    data = bytearray(zone.read_bytes())
    start = data.index(f"{owner}\t86400\tIN\tRRSIG\tDS ".encode())
    end = data.index(b"\n", start)
    at = end - 5
    data[at] = ord("A") if data[at] != ord("A") else ord("B")
    with open(zone, "r+b") as f:  # in place: same inode
        f.write(data)
    os.utime(zone, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert zone.stat().st_size == st.st_size and zone.stat().st_mtime_ns == st.st_mtime_ns
    return data[start:end].decode()


def test_a_flipped_byte_in_the_published_zone_is_never_copied_forward(
    home: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    first = cycle(home, capsys)
    assert first["outcome"] == "published"
    store = store_of(home)
    published = store.zone_path(first["serial"])  # type: ignore[arg-type]
    assert record_path(published).exists()
    recorded = json.loads(record_path(published).read_text())
    assert recorded["sha256"] == digest_file(published).sha256
    report = json.loads((zone_home(home).last_report).read_text())
    assert report["meta"]["sha256"] == recorded["sha256"]

    damaged = flip_rrsig_byte(published, "dom0.example.")
    registry.add_ds("dom1.example", ds_for(1))
    second = cycle(home, capsys)

    assert second["outcome"] == "published"
    stats = second["stats"]
    assert isinstance(stats, dict)
    # Nothing was reused from the damaged zone: a full sign, a full verification.
    assert stats["incremental_sign"] == 0 and stats["signatures_reused"] == 0
    assert stats["incremental_verify"] == 0 and stats["integrity_incidents"] == 1
    new_zone = store.zone_path(second["serial"]).read_text()  # type: ignore[arg-type]
    assert damaged not in new_zone
    assert "dom0.example.\t86400\tIN\tRRSIG\tDS " in new_zone
    assert "zone.integrity_failed" in audit_events(home)
    state = json.loads((zone_home(home).cycle_state).read_text())
    assert state["incident"]["kind"] == "integrity"
    assert "differ from the record" in state["incident"]["message"]
    # The next cycle patches the new, intact zone again.
    registry.add_ds("dom2.example", ds_for(2))
    third = cycle(home, capsys)
    assert third["stats"]["incremental_sign"] == 1  # type: ignore[index]
    assert third["stats"]["incremental_verify"] == 1  # type: ignore[index]


def soa_serial(host: str, port: int) -> tuple[int, int | None]:
    query = dns.message.make_query("example.", dns.rdatatype.SOA)
    answer = dns.query.udp(query, host, port=port, timeout=5)
    if answer.rcode() != dns.rcode.NOERROR:
        return answer.rcode(), None
    return answer.rcode(), answer.answer[0][0].serial


def test_the_primary_never_loads_a_zone_that_differs_from_its_digest(
    home: Path,
    registry: Registry,
    loop_thread: LoopThread,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = cycle(home, capsys)
    registry.add_ds("dom1.example", ds_for(1))
    second = cycle(home, capsys)
    store = store_of(home)
    flip_rrsig_byte(store.zone_path(second["serial"]), "dom0.example.")  # type: ignore[arg-type]

    # After a restart: the damaged current serial is refused, the older one served.
    primary = start_primary(loop_thread, store)
    try:
        assert primary.server.serial == first["serial"]
        assert primary.server.problem is not None and "differ" in primary.server.problem
        assert soa_serial(primary.host, primary.port) == (dns.rcode.NOERROR, first["serial"])
        assert not primary.refresh()  # not read again until it changes

        # The next cycle signs in full from the registry; the primary takes it.
        registry.add_ds("dom2.example", ds_for(2))
        third = cycle(home, capsys)
        assert third["outcome"] == "published"
        assert primary.refresh() and primary.server.serial == third["serial"]
        assert primary.server.problem is None

        # A running primary keeps serving the last good serial.
        registry.add_ds("dom3.example", ds_for(3))
        fourth = cycle(home, capsys)
        flip_rrsig_byte(store.zone_path(fourth["serial"]), "dom0.example.")  # type: ignore[arg-type]
        assert not primary.refresh()
        assert soa_serial(primary.host, primary.port) == (dns.rcode.NOERROR, third["serial"])
    finally:
        loop_thread.run(primary.server.close())


def test_a_zone_without_a_digest_record_is_not_served(
    home: Path, loop_thread: LoopThread, capsys: pytest.CaptureFixture[str]
) -> None:
    first = cycle(home, capsys)
    store = store_of(home)
    record_path(store.zone_path(first["serial"])).unlink()  # type: ignore[arg-type]
    primary = start_primary(loop_thread, store)
    try:
        assert primary.server.serial is None
        assert "no readable digest record" in (primary.server.problem or "")
        assert soa_serial(primary.host, primary.port)[0] == dns.rcode.SERVFAIL
    finally:
        loop_thread.run(primary.server.close())


def test_a_zone_without_a_digest_record_brings_a_cycle_at_once(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store written before digests were kept (an upgrade): the primary would serve
    nothing, so the next check asks for a cycle at once, which signs and verifies a new
    serial in full."""
    first = cycle(home, capsys)
    store = store_of(home)
    record_path(store.zone_path(first["serial"])).unlink()  # type: ignore[arg-type]
    assert main(["cycle", "--home", str(home), "--check"]) == ExitCode.NEEDED
    assert "has no digest record" in capsys.readouterr().out
    second = cycle(home, capsys)
    assert second["outcome"] == "published" and second["stats"]["incremental_sign"] == 0  # type: ignore[index]
    assert record_path(store.zone_path(second["serial"])).exists()  # type: ignore[arg-type]
    assert main(["cycle", "--home", str(home), "--check"]) == ExitCode.OK
    assert capsys.readouterr().out.strip() == "nothing to do"


def test_serves_primary_records_a_refused_zone_in_the_audit_log(
    home: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """The primary of ``tldsec serve`` refusing a damaged zone file is an incident in the
    audit log (DPS 4.4.1, 4.5.1), once: the refused file is not read again."""
    first = cycle(home, capsys)
    registry.add_ds("dom1.example", ds_for(1))
    second = cycle(home, capsys)
    flip_rrsig_byte(store_of(home).zone_path(second["serial"]), "dom0.example.")  # type: ignore[arg-type]
    settings = load_settings(home)
    serve = ServeRegistry(settings, SystemClock(), load_distribute_settings(settings), [])

    async def start_twice() -> int | None:
        primary = serve._primary()
        await primary.refresh()
        await primary.refresh()
        return primary.serial

    assert asyncio.run(start_twice()) == first["serial"]
    with sqlite3.connect(home / "audit.db") as conn:
        rows = conn.execute(
            "SELECT actor, details FROM audit_entries WHERE event = 'zone.integrity_failed'"
        ).fetchall()
    refused = [(a, json.loads(d)) for a, d in rows if json.loads(d).get("stage") == "primary"]
    ((actor, details),) = refused
    assert actor == "component:serve"
    assert details["serial"] == second["serial"] and details["serving"] == first["serial"]
    assert "differ" in details["error"]
