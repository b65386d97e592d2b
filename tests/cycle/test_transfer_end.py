"""After an operator transfer's last step (DPS 4.6, decision 47) the zone is another
operator's: a state, not a failure. ``tldsec cycle`` in processes of its own on a file-key
home: the cycle that takes the last step succeeds (exit 0, nothing distributed, the
retirements in its result); later cycles (and --force, and --check) say "nothing to do:
handed over to ..." with exit 0 and an INFO line; no cycle.failed is recorded; key
operations are still refused.

The parent is not asked here (tests/cycle/test_operator_transfer_e2e.py does that with a
signed test root): the handover's facts are written as the handover writes them, two
days and more in the past, and our DS is confirmed gone by the operator's command.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from tests.distribute.homes import FAST_CYCLE, audit_events, make_home, tldsec
from tests.keys.test_transfer import dnskey_line
from tldsec.cli.status import health, status
from tldsec.cli.status import text as status_text
from tldsec.clock import FakeClock, SystemClock
from tldsec.keys import transfer
from tldsec.keys.database import open_signer_db
from tldsec.keys.models import META_ID, SignerMeta
from tldsec.keys.service import KeyManager
from tldsec.keys.state import DsState, Role
from tldsec.keys.transfer_service import TransferManager
from tldsec.settings import load_settings


def _cycle(home: Path, *args: str) -> tuple[int, dict[str, object], str]:
    out = tldsec("cycle", "--home", str(home), "--json", *args, check=False)
    return out.returncode, json.loads(out.stdout), out.stderr


def up_to_the_last_step(home: Path) -> dict[str, object]:
    """Take ``home`` (one cycle published) through an operator transfer up to its last
    step: imported, handed over long ago, our DS withdrawn by a cycle (its result
    returned) and confirmed gone; the next cycle ends our role."""
    settings = load_settings(home)
    clock = SystemClock()
    engine = open_signer_db(settings.signer_db_url)
    try:
        km = KeyManager(engine, None, settings.policy, clock, origin=settings.origin)
        tm = TransferManager(km)
        tm.import_dnskeys(dnskey_line(257, 2048) + "\n" + dnskey_line(256, 1024), "gaining", "sale")
        # As 'keys transfer check-parent' and 'keys transfer handover' write them, long
        # enough ago that no resolver asks our servers any more.
        past = clock.now() - transfer.ns_interval(km.timing) - timedelta(hours=1)
        with km._sessions() as session, session.begin():
            meta = session.get(SignerMeta, META_ID)
            assert meta is not None
            meta.transfer_peer_ds_seen = past - timedelta(days=3)
            meta.transfer_handed_over = past

        # The DS withdrawal: an ordinary cycle, still signed (with their keys published).
        code, withdrawal, _ = _cycle(home)
        assert code == 0 and withdrawal["outcome"] == "published", withdrawal
        assert "withdrawal of our DS" in str(withdrawal["reason"])
        (ksk,) = [k for k in km.key_records() if k.role is Role.KSK]
        assert ksk.ds_state_at(clock.now()) is DsState.WITHDRAWAL_REQUESTED
        km.ds_gone(str(ksk.key_tag), "the parent no longer serves it")
        assert km.transfer_end_due(clock.now() + timedelta(seconds=1))
        return withdrawal
    finally:
        engine.dispose()


def test_the_end_is_a_state_not_a_failure(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", extra=FAST_CYCLE)
    code, first, _ = _cycle(home)
    assert code == 0 and first["outcome"] == "published", first
    withdrawal = up_to_the_last_step(home)

    # The cycle that takes the last step succeeds; nothing new is distributed.
    code, last, _ = _cycle(home)
    assert code == 0 and last["outcome"] == "unchanged", last
    assert "our role ended: handed over to gaining on" in str(last["reason"])
    assert last["distributed"] == withdrawal["distributed"] and last["serial"] is None
    changes = " ".join(str(t) for t in last["transitions"])  # type: ignore[attr-defined]
    assert "key.retired" in changes and "key.removed" in changes

    # Later cycles: skipped, exit 0, one INFO line; --force too; --check finds nothing.
    for extra in ((), ("--force",)):
        code, later, err = _cycle(home, "-v", *extra)
        assert code == 0, later
        assert later["outcome"] == "unchanged" and later["distributed"] == last["distributed"]
        assert str(later["reason"]).startswith("nothing to do: handed over to gaining on ")
        assert "INFO" in err and "skipped: nothing to do: handed over to gaining" in err
    # tldsec status weeks later: HANDED OVER, and the expired signatures of our last zone
    # are not a problem to fix (exit 0), where they would be for a zone we still sign.
    later_on = FakeClock(SystemClock().now() + timedelta(days=40))
    report = status(load_settings(home), later_on)
    assert report["transfer"]["ended"] is not None and report["health"]["state"] == "ok", report
    assert "HANDED OVER" in status_text(report)
    report["transfer"] = None
    assert "signatures expire" in " ".join(
        health(report, load_settings(home), later_on.now())["problems"]
    )
    check = tldsec("cycle", "--home", str(home), "--check", check=False)
    assert check.returncode == 0 and check.stdout.strip() == "nothing to do"
    assert "cycle.failed" not in audit_events(home)

    # Key operations stay refused, in one line.
    refused = tldsec(
        "keys", "rollover", "--zsk", "--reason", "habit", "--yes", "--home", str(home), check=False
    )
    assert refused.returncode != 0
    assert "our role ended" in refused.stderr and refused.stderr.count("\n") == 1
