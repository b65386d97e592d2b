"""The key manager going insecure on a SQLite signer database (DPS 4.6): the intent is
stored with the keys, audited, planned from, and cancelled."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.keys.conftest import T0
from tests.keys.test_service import DAY, Recorded
from tldsec.clock import FakeClock
from tldsec.errors import KeyManagementError
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.keys.database import open_signer_db
from tldsec.keys.models import SignerMeta
from tldsec.keys.planner import Action
from tldsec.keys.service import KeyManager
from tldsec.keys.state import DsState, KeyState, Role
from tldsec.keys.timing import ds_publish_interval
from tldsec.policy import Policy


def test_going_insecure_is_recorded_planned_and_cancelled(tmp_path: Path, policy: Policy) -> None:
    engine = open_signer_db(f"sqlite:///{tmp_path / 'signer.db'}")
    clock = FakeClock(T0)
    recorded = Recorded()
    km = KeyManager(engine, MemoryKeyStore(), policy, clock, origin="example", recorder=recorded)
    km.bootstrap("tldsec init")
    ksk = next(k for k in km.key_records() if k.role is Role.KSK)
    clock.advance(DAY)
    km.ds_seen(str(ksk.key_tag), "seen")
    assert km.going_insecure() is None
    with pytest.raises(KeyManagementError, match="not going insecure"):
        km.cancel_go_insecure("x")

    clock.advance(DAY)
    made = km.go_insecure("the TLD is handed back")
    assert [(t.key_tag, t.event.value) for t in made] == [(ksk.key_tag, "ds.withdrawal-requested")]
    event, _, details = recorded.entries[-1]
    assert event == "key.go_insecure_requested"
    assert details["ds_withdrawal_requested"] == [ksk.key_tag]
    assert km.going_insecure() == (clock.now(), "the TLD is handed back")
    assert km.export_ds() == []  # the parent should hold no DS of ours now
    with pytest.raises(KeyManagementError, match="already going insecure"):
        km.go_insecure("again")
    with pytest.raises(KeyManagementError, match="going insecure: a new KSK"):
        km.emergency_rollover(Role.KSK, "suspected")
    with pytest.raises(KeyManagementError, match="going insecure: a KSK rollover"):
        km.request_rollover(Role.KSK, "lifetime")
    assert km.request_rollover(Role.ZSK, "zsks still roll")  # the zone is signed meanwhile

    # A second key manager on the same database (the next cycle) plans from the intent.
    other = KeyManager(engine, MemoryKeyStore(), policy, clock, origin="example")
    steps = other.plan().steps
    unsign = next(s for s in steps if s.action is Action.UNSIGN)
    assert unsign.waiting_for.name == "ds-gone"
    assert any(s.action is Action.CONFIRM_DS_WITHDRAWN and s.key_tag == ksk.key_tag for s in steps)
    clock.advance(400 * DAY)  # past the KSK's lifetime: no KSK rollover starts
    assert not [t for t in other.run_due() if t.role is Role.KSK]

    km.ds_gone(str(ksk.key_tag), "gone")
    unsign = next(s for s in km.plan().steps if s.action is Action.UNSIGN)
    assert unsign.due == clock.now() + ds_publish_interval(km.timing)

    clock.advance(DAY)
    made = km.cancel_go_insecure("keep DNSSEC after all")
    assert made[0].event.value == "key.rollover-requested" and made[0].key_tag == ksk.key_tag
    assert any(e[0] == "key.go_insecure_cancelled" for e in recorded.entries)
    assert km.going_insecure() is None
    keys = km.key_records()
    new = [k for k in keys if k.role is Role.KSK and k.key_id != ksk.key_id]
    assert len(new) == 1 and new[0].state_at(clock.now()) is KeyState.PUBLISHED
    assert not any(s.action is Action.UNSIGN for s in km.plan().steps)
    assert next(k for k in keys if k.key_id == ksk.key_id).ds_state_at(clock.now()) is (
        DsState.WITHDRAWN
    )
    engine.dispose()


def test_the_last_step_is_a_zone_fact_and_cannot_be_cancelled(
    tmp_path: Path, policy: Policy
) -> None:
    """Decision 46: the last step retires every key and records ``unsigned_since`` in the
    same transaction; after it, cancel and every key operation name the fresh start."""
    engine = open_signer_db(f"sqlite:///{tmp_path / 'signer.db'}")
    clock = FakeClock(T0)
    recorded = Recorded()
    km = KeyManager(engine, MemoryKeyStore(), policy, clock, origin="example", recorder=recorded)
    km.bootstrap("tldsec init")
    ksk = next(k for k in km.key_records() if k.role is Role.KSK)
    clock.advance(DAY)
    km.ds_seen(str(ksk.key_tag), "seen")
    km.go_insecure("the TLD is handed back")
    clock.advance(DAY)
    km.ds_gone(str(ksk.key_tag), "gone")
    clock.advance(ds_publish_interval(km.timing) - timedelta(seconds=1))
    assert km.run_due() == [] and km.unsigned_since() is None  # one second early
    clock.advance(timedelta(seconds=1))
    made = km.run_due()
    assert km.unsigned_since() == clock.now()
    assert {t.event.value for t in made} == {"key.retired", "key.removed"}
    assert all(k.state_at(clock.now()) is KeyState.REMOVED for k in km.key_records())
    event, _, details = recorded.entries[-1]
    assert event == "key.zone_unsigned" and "DPS 5.2.10" in details["hsm_objects"]
    assert set(details["retired"]) == {k.key_tag for k in km.key_records()}
    assert km.plan().steps == ()
    assert km.going_insecure() == (T0 + DAY, "the TLD is handed back")
    with pytest.raises(KeyManagementError, match="cannot be cancelled; signing again is a fresh"):
        km.cancel_go_insecure("we changed our minds")
    for refused in (
        lambda: km.request_rollover(Role.ZSK, "x"),
        lambda: km.generate(Role.KSK, "x"),
        lambda: km.emergency_rollover(Role.ZSK, "x"),
        lambda: km.bootstrap("x"),
        lambda: km.signing_config(),
    ):
        with pytest.raises(KeyManagementError, match=r"unsigned since .* fresh start"):
            refused()
    clock.advance(400 * DAY)
    assert km.run_due() == [] and km.unsigned_since() == T0 + 2 * DAY + ds_publish_interval(
        km.timing
    )
    engine.dispose()


def test_going_insecure_is_refused_while_the_zone_is_handed_to_another_operator(
    tmp_path: Path, policy: Policy
) -> None:
    """A transfer (keys/transfer.py) keeps the zone signed; going insecure meanwhile would
    withdraw the DS the gaining operator's handover relies on: refused, nothing written."""
    engine = open_signer_db(f"sqlite:///{tmp_path / 'signer.db'}")
    clock = FakeClock(T0)
    km = KeyManager(engine, MemoryKeyStore(), policy, clock, origin="example")
    km.bootstrap("tldsec init")
    ksk = next(k for k in km.key_records() if k.role is Role.KSK)
    clock.advance(DAY)
    km.ds_seen(str(ksk.key_tag), "seen")
    with engine.begin() as conn:
        conn.execute(
            update(SignerMeta).values(transfer_operator="gaining.example", transfer_started=T0)
        )
    with pytest.raises(KeyManagementError, match=r"handed to gaining\.example"):
        km.go_insecure("wind down")
    assert km.going_insecure() is None
    assert km.export_ds() != []  # no DS withdrawal was written
    engine.dispose()
