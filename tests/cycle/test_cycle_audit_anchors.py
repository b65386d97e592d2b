"""Issue 16: the cycle child ``tldsec serve`` starts signs its checkpoint into the anchors
too, and its publication records the signature-expiry margin the compliance report shows."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from tests.cli.test_serve_cycle_timeout import registry as serve_registry
from tests.distribute.homes import seeded_home
from tldsec.audit.anchors import FileAnchor
from tldsec.audit.config import open_audit_log
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.cli.serve import _cycle_argv
from tldsec.clock import SystemClock
from tldsec.cycle import Outcome, open_cycle
from tldsec.settings import load_settings


def test_a_cycle_run_by_serve_copies_its_checkpoint_to_the_anchor_files(tmp_path: Path) -> None:
    home = seeded_home(tmp_path, 5)
    argv = _cycle_argv(argparse.Namespace(home=str(home)))
    registry = serve_registry(home, argv, timeout=600)
    result = asyncio.run(registry._run_cycle(False))
    assert result is not None and result["outcome"] == "published", result
    log = open_audit_log(load_settings(home), SystemClock())
    try:
        head = log.head()
        (published,) = iter_entries(log.engine, EntryFilter(events=("zone.published",)))
    finally:
        log.close()
    assert head.checkpoint_seq > 0
    anchor = FileAnchor(home / "audit-anchors")
    assert anchor.newest_seq() == head.checkpoint_seq  # the child's end-of-cycle checkpoint
    assert str(published.details["earliest_signature_expiry"]).endswith("Z")
    assert json.loads(json.dumps(published.details))["serial"] == result["serial"]


def test_a_key_store_failure_in_a_cycle_is_an_hsm_failure_entry(tmp_path: Path) -> None:
    home = seeded_home(tmp_path, 3)
    for pem in (home / "keys").glob("*.pem"):
        pem.write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    with open_cycle(load_settings(home), SystemClock()) as cycle:
        result = cycle.run()
    assert result.outcome is Outcome.FAILED
    log = open_audit_log(load_settings(home), SystemClock())
    try:
        (failure,) = iter_entries(log.engine, EntryFilter(events=("hsm.failure",)))
    finally:
        log.close()
    assert failure.actor == "component:cycle" and failure.details["stage"] == "sign"
    assert "unusable" in str(failure.details["error"])
