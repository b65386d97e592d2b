"""The difference push (decision 54): when the primary serves the serial the new zone
was patched from, only the edits' new bytes travel; the primary rebuilds the file from
its own, installs it only when it hashes to the offered SHA-256, and otherwise asks for
the whole file on the same connection. The patch stays beside the installed zone, so
the IXFR difference is read from its edits."""

from __future__ import annotations

import dataclasses
import difflib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distribute.conftest import DOMAINS, DS2, LoopThread, ZoneMaker
from tests.distribute.pushing import identity, peer, publish_verified, start_site, stop_site
from tests.distribute.test_push import World, axfr
from tldsec.distribute.ixfr import diff_files
from tldsec.distribute.push import client_context, offer_for, push_once
from tldsec.distribute.store import ZoneStore
from tldsec.dnscore.zonepatch import Edit, ZonePatch
from tldsec.zonefiles import ZoneFiles

NEXT = {**DOMAINS, "d1": DS2, "fresh": DS2}


def line_patch(old: Path, new: Path) -> ZonePatch:
    """The edits between two zone files by whole lines (difflib), every other byte the
    same: what an incremental re-sign writes beside its file."""
    a, b = old.read_bytes().splitlines(keepends=True), new.read_bytes().splitlines(keepends=True)
    a_at = [0, *itertools.accumulate(map(len, a))]
    b_at = [0, *itertools.accumulate(map(len, b))]
    edits = tuple(
        Edit(a_at[i1], a_at[i2], b_at[j1], b_at[j2])
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        if tag != "equal"
    )
    return ZonePatch(old.name, a_at[-1], b_at[-1], edits)


@pytest.fixture
def world(tmp_path: Path, zones: ZoneMaker, loop_thread: LoopThread) -> Iterator[World]:
    certs = tmp_path / "certs"
    signer, primary_id = identity(certs, "site-a"), identity(certs, "primary-1")
    site = start_site(loop_thread, tmp_path / "primary", primary_id, (peer(signer, "site-a"),))
    store = ZoneStore(tmp_path / "signer", "example.", keep=4)
    publish_verified(store, zones, 100, DOMAINS)
    target = peer(primary_id, "primary-1", site.address)
    first = offer_for(store, 100, 1)  # the gate's record is of the newest serial only
    ctx = client_context(signer.cert, signer.key, target)
    assert push_once(target, ctx, first, store.zone_path(100), 10) == "pushed"
    publish_verified(store, zones, 101, NEXT)
    patch = line_patch(store.zone_path(100), store.zone_path(101))
    patch.save(ZoneFiles(store.zone_path(101)).patch)
    yield World(signer, primary_id, site, target, store)
    stop_site(loop_thread, site)


@pytest.fixture
def empty(tmp_path: Path, world: World, loop_thread: LoopThread) -> Iterator[World]:
    """The same signer, and a second primary that serves nothing yet."""
    site = start_site(
        loop_thread, tmp_path / "primary-2", world.primary_id, (peer(world.signer, "site-a"),)
    )
    yield dataclasses.replace(
        world, site=site, target=peer(world.primary_id, "primary-1", site.address)
    )
    stop_site(loop_thread, site)


def test_only_the_edits_travel_when_the_primary_serves_the_previous_serial(
    world: World,
) -> None:
    offer = offer_for(world.store, 101, 1)
    assert offer.patch is not None and offer.patch["from"] == 100
    assert offer.patch["bytes"] < offer.size // 2
    assert world.push(101, 1) == "pushed the difference"

    primary = world.site.primary.store
    assert primary.zone_path(101).read_bytes() == world.store.zone_path(101).read_bytes()
    assert axfr(world.site).get_soa().serial == 101
    # The patch is kept beside the zone; the IXFR difference came from its edits and is
    # the one the two whole files give.
    assert ZoneFiles(primary.zone_path(101)).patch.exists()
    got = primary.read_diff(100, 101)
    whole = diff_files(primary.zone_path(100), primary.zone_path(101), "example.")
    assert (sorted(got.deleted), sorted(got.added)) == (sorted(whole.deleted), sorted(whole.added))
    assert got.changes > 0
    assert world.site.refusals == []


def test_a_primary_without_the_previous_serial_takes_the_whole_file(empty: World) -> None:
    assert empty.push(101, 1) == "pushed"  # nothing served yet: the patch is no use
    assert axfr(empty.site).get_soa().serial == 101


def test_a_rebuilt_file_that_hashes_wrong_is_replaced_by_the_whole_file(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The primary's copy of serial 100 is damaged outside the edits (its digest record
    still says otherwise): the rebuilt 101 cannot hash right, so the primary asks for
    the whole file on the same connection and installs that."""
    served = world.site.primary.store.zone_path(100)
    data = bytearray(served.read_bytes())
    patch = ZonePatch.load(ZoneFiles(world.store.zone_path(101)).patch)
    same = max(patch.unchanged(), key=lambda r: r.length)  # bytes the edits keep
    line_end = data.index(b"\n", same.old_start + same.length // 2)
    at = line_end - 3  # in the base64 of a signature, in the kept bytes
    assert same.old_start < at < same.old_start + same.length
    data[at] = ord("A") if data[at] != ord("A") else ord("B")
    served.write_bytes(bytes(data))

    assert world.push(101, 1) == "pushed"
    assert "with the difference applied has SHA-256" in caplog.text
    assert "the whole file is asked for" in caplog.text
    primary = world.site.primary.store
    assert primary.zone_path(101).read_bytes() == world.store.zone_path(101).read_bytes()
    assert axfr(world.site).get_soa().serial == 101
    assert world.site.refusals == []


def test_a_patch_that_does_not_hold_together_is_ignored(world: World) -> None:
    offer = offer_for(world.store, 101, 1)
    assert offer.patch is not None
    broken = dataclasses.replace(offer, patch={**offer.patch, "bytes": offer.patch["bytes"] + 1})
    ctx = client_context(world.signer.cert, world.signer.key, world.target)
    path = world.store.zone_path(101)
    assert push_once(world.target, ctx, broken, path, 10) == "pushed"
    assert axfr(world.site).get_soa().serial == 101
