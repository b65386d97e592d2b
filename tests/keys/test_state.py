"""Key facts and the states derived from them; every refused transition."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from tests.keys.conftest import T0
from tests.keys.keymaker import make_key
from tldsec.errors import KeyManagementError
from tldsec.keys import state
from tldsec.keys.state import DsState, KeyEvent, KeyState, Role

DAY = timedelta(days=1)


def test_a_keys_state_is_derived_from_its_facts_at_any_instant() -> None:
    key = make_key(
        Role.ZSK,
        T0,
        published=T0 + DAY,
        active=T0 + 8 * DAY,
        retired=T0 + 98 * DAY,
        removed=T0 + 105 * DAY,
    )
    assert key.state_at(T0 - DAY) is None
    assert key.state_at(T0) is KeyState.GENERATED
    assert key.state_at(T0 + DAY) is KeyState.PUBLISHED
    assert key.state_at(T0 + 8 * DAY - timedelta(seconds=1)) is KeyState.PUBLISHED
    assert key.state_at(T0 + 8 * DAY) is KeyState.ACTIVE
    assert key.state_at(T0 + 100 * DAY) is KeyState.RETIRED
    assert key.state_at(T0 + 105 * DAY) is KeyState.REMOVED
    assert [key.publishes_at(T0 + d * DAY) for d in (0, 1, 8, 100, 105)] == [
        False,
        True,
        True,
        True,
        False,
    ]
    assert [key.signs_at(T0 + d * DAY) for d in (1, 8, 100)] == [False, True, False]


def test_the_ds_state_follows_submission_seen_withdrawal_and_gone() -> None:
    key = make_key(
        Role.KSK,
        T0,
        published=T0,
        active=T0,
        ds_submitted=T0,
        ds_seen=T0 + 2 * DAY,
        ds_withdrawal_requested=T0 + 400 * DAY,
        ds_withdrawn=T0 + 402 * DAY,
    )
    assert [key.ds_state_at(T0 + d * DAY) for d in (0, 2, 400, 402)] == [
        DsState.SUBMITTED,
        DsState.SEEN,
        DsState.WITHDRAWAL_REQUESTED,
        DsState.WITHDRAWN,
    ]
    assert make_key(Role.KSK, T0).ds_state_at(T0) is DsState.NONE


def test_role_sets_the_dnskey_flags_and_so_the_key_tag() -> None:
    ksk = make_key(Role.KSK, T0, tag=20326)
    assert ksk.flags == 257
    assert ksk.key_tag == 20326
    assert ksk.dnskey_rdata[:4] == b"\x01\x01\x03\x08"
    assert make_key(Role.ZSK, T0).flags == 256
    assert ksk.name == "ksk 20326"


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({"active": T0}, "active is set but published is not"),
        ({"published": T0 + DAY, "active": T0}, "is before"),
        ({"published": T0 - DAY}, "is before"),
    ],
)
def test_impossible_fact_sets_are_rejected_at_construction(
    facts: dict[str, datetime], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_key(Role.ZSK, T0, **facts)


def test_a_zsk_cannot_carry_ds_facts_and_times_must_be_utc_aware() -> None:
    with pytest.raises(ValueError, match="only a KSK has a DS"):
        make_key(Role.ZSK, T0, ds_submitted=T0)
    with pytest.raises(ValueError, match="naive"):
        make_key(Role.ZSK, T0.replace(tzinfo=None))


def test_each_transition_adds_one_fact_and_says_what_happened() -> None:
    key = make_key(Role.ZSK, T0)
    key, tr = state.publish(key, T0 + DAY, "pre-publish")
    assert key.published == T0 + DAY
    assert (tr.event, tr.time, tr.key_id, tr.reason) == (
        KeyEvent.PUBLISHED,
        T0 + DAY,
        key.key_id,
        "pre-publish",
    )
    key, tr = state.activate(key, T0 + 8 * DAY, "switch")
    assert tr.event is KeyEvent.ACTIVATED and tr.event.fact == "active"
    key, tr = state.retire(key, T0 + 98 * DAY, "rolled")
    key, tr = state.remove(key, T0 + 105 * DAY, "post-publish over")
    assert key.state_at(T0 + 105 * DAY) is KeyState.REMOVED
    assert key.bare() == make_key_like(key)


def make_key_like(key: state.KeyRecord) -> state.KeyRecord:
    return replace(key, published=None, active=None, retired=None, removed=None)


def test_a_retired_key_is_never_reactivated_dps_5_3() -> None:
    key = make_key(Role.ZSK, T0, published=T0, active=T0, retired=T0 + 90 * DAY)
    with pytest.raises(KeyManagementError, match="never signs again"):
        state.activate(key, T0 + 91 * DAY, "try again")
    removed = replace(key, removed=T0 + 97 * DAY)
    with pytest.raises(KeyManagementError, match="never signs again"):
        state.activate(removed, T0 + 98 * DAY, "try again")
    with pytest.raises(KeyManagementError, match="never reused"):
        state.publish(replace(make_key(Role.ZSK, T0), removed=T0), T0, "reuse")


def test_refusals_name_the_rule() -> None:
    generated = make_key(Role.ZSK, T0)
    with pytest.raises(KeyManagementError, match="must be published before it signs"):
        state.activate(generated, T0, "x")
    with pytest.raises(KeyManagementError, match="only an active key retires"):
        state.retire(generated, T0, "x")
    active = make_key(Role.ZSK, T0, published=T0, active=T0)
    with pytest.raises(KeyManagementError, match=r"retire it \(roll over\) before removing"):
        state.remove(active, T0 + DAY, "x")
    with pytest.raises(KeyManagementError, match="already published"):
        state.publish(active, T0 + DAY, "x")
    with pytest.raises(KeyManagementError, match="before its last recorded fact"):
        state.retire(active, T0 - DAY, "x")
    with pytest.raises(KeyManagementError, match="only an active key rolls"):
        state.request_rollover(generated, T0, "x")
    compromised = replace(generated, compromised=T0)
    with pytest.raises(KeyManagementError, match="compromised"):
        state.publish(compromised, T0, "x")
    with pytest.raises(ValueError, match="needs a reason"):
        state.publish(generated, T0, " ")


def test_ds_transitions_belong_to_ksks_and_keep_their_order() -> None:
    zsk = make_key(Role.ZSK, T0, published=T0, active=T0)
    with pytest.raises(KeyManagementError, match="only a KSK has a DS"):
        state.submit_ds(zsk, T0, "x")
    ksk = make_key(Role.KSK, T0, published=T0, active=T0)
    with pytest.raises(KeyManagementError, match="never submitted"):
        state.mark_ds_seen(ksk, T0, "x")
    ksk, _ = state.submit_ds(ksk, T0, "initial DS")
    with pytest.raises(KeyManagementError, match="already submitted"):
        state.submit_ds(ksk, T0, "x")
    with pytest.raises(KeyManagementError, match="active KSK: its DS must stay"):
        state.request_ds_withdrawal(ksk, T0 + DAY, "x")
    with pytest.raises(KeyManagementError, match="never requested"):
        state.mark_ds_withdrawn(ksk, T0 + DAY, "x")
    ksk, tr = state.mark_ds_seen(ksk, T0 + DAY, "operator")
    assert tr.event is KeyEvent.DS_SEEN
    with pytest.raises(KeyManagementError, match="already seen"):
        state.mark_ds_seen(ksk, T0 + DAY, "x")
    ksk, _ = state.retire(ksk, T0 + 365 * DAY, "rolled")
    ksk, _ = state.request_ds_withdrawal(ksk, T0 + 366 * DAY, "old DS")
    ksk, tr = state.mark_ds_withdrawn(ksk, T0 + 368 * DAY, "gone")
    assert ksk.ds_state_at(T0 + 368 * DAY) is DsState.WITHDRAWN
    with pytest.raises(KeyManagementError, match="retired; its DS must not be added"):
        state.submit_ds(
            replace(make_key(Role.KSK, T0, published=T0, active=T0), retired=T0), T0, "x"
        )
