"""Emergency rollovers keep the gates of every new key (issue 14; DPS 4.5.3 with 5.2.4
backed up before use and 5.2.7 proven on every HSM replica): a ready standby ZSK that
passed them takes over at once; a key that must be made now enters the zone only once
archived and proven, and the compromised key keeps its role until then, so the zone is
never left without a usable key of the role."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.keys.conftest import T0
from tldsec.clock import FakeClock
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.keys import emergency, rollover
from tldsec.keys.database import open_signer_db
from tldsec.keys.plan import zone_view
from tldsec.keys.planner import Action, Gate, plan, ready_gate
from tldsec.keys.rollover import KeyFactory
from tldsec.keys.service import KeyManager
from tldsec.keys.state import KeyEvent, KeyRecord, KeyState, Role
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy

DAY = timedelta(days=1)
NOW = T0 + 20 * DAY
WAITING = "replicas: {key} proven on every HSM"


@pytest.fixture
def gated(policy: Policy) -> Policy:
    return dataclasses.replace(policy, backup_before_use=True)


def backed_up_zone(
    gated: Policy, timing: TimingParams, factory: KeyFactory
) -> tuple[KeyRecord, ...]:
    """KSK (DS seen), active ZSK and a standby ZSK, every one archived before use."""
    keys = rollover.bootstrap((), gated, T0, factory, "init").keys
    keys = rollover.record_backup(keys, [k.key_id for k in keys], T0, "archive 1").keys
    keys = rollover.run_due(keys, gated, timing, T0, factory).keys  # first keys + standby
    standby = [k for k in keys if k.backed_up is None]
    keys = rollover.record_backup(keys, [k.key_id for k in standby], T0, "archive 2").keys
    keys = rollover.run_due(keys, gated, timing, T0, factory).keys
    ksk = next(k for k in keys if k.role is Role.KSK)
    return rollover.confirm_ds_seen(keys, ksk.key_id, T0 + 2 * DAY, "seen").keys


def assert_no_unbacked_key_in_the_zone(keys: Sequence[KeyRecord]) -> None:
    for k in keys:
        if k.state_at(NOW) in (KeyState.PUBLISHED, KeyState.ACTIVE, KeyState.RETIRED):
            assert k.backed_up is not None, k


def usable(keys: Sequence[KeyRecord], role: Role) -> list[KeyRecord]:
    """The keys of ``role`` that sign now."""
    return [k for k in keys if k.role is role and k.signs_at(NOW)]


def test_a_zsk_emergency_with_a_ready_standby_publishes_nothing_unbacked(
    gated: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = backed_up_zone(gated, timing, factory)
    zsk = usable(keys, Role.ZSK)[0]
    standby = next(k for k in keys if k.role is Role.ZSK and k.state_at(NOW) is KeyState.PUBLISHED)
    assert emergency.preview(keys, Role.ZSK, gated, timing, NOW).replacement == standby

    out = emergency.execute(keys, Role.ZSK, gated, timing, NOW, factory, "leak")
    out = out.then(rollover.run_due(out.keys, gated, timing, NOW, factory))
    # the standby (archived before it was published) signs at once: DPS 4.5.3's speed
    assert [k.key_id for k in usable(out.keys, Role.ZSK)] == [standby.key_id]
    assert rollover.find_key(out.keys, zsk.key_id).state_at(NOW) is KeyState.RETIRED
    # the next standby is made, and waits for its own archive out of the zone
    (new,) = [k for k in out.keys if k.key_id not in {x.key_id for x in keys}]
    assert new.state_at(NOW) is KeyState.GENERATED
    assert_no_unbacked_key_in_the_zone(out.keys)


def test_a_standby_some_hsm_lacks_does_not_take_over(
    gated: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = backed_up_zone(gated, timing, factory)
    zsk = usable(keys, Role.ZSK)[0]
    standby = next(k for k in keys if k.role is Role.ZSK and k.state_at(NOW) is KeyState.PUBLISHED)
    # the second site has every key but the standby
    replicas = ready_gate("replicas", frozenset(k.key_id for k in keys) - {standby.key_id}, WAITING)
    gates: tuple[Gate, ...] = (replicas,)
    plan_ = emergency.preview(keys, Role.ZSK, gated, timing, NOW, gates=gates)
    assert plan_.replacement is None and "keeps signing until then" in plan_.text()

    out = emergency.execute(keys, Role.ZSK, gated, timing, NOW, factory, "leak", gates=gates)
    out = out.then(rollover.run_due(out.keys, gated, timing, NOW, factory, gates))
    # nothing new in the zone; the compromised ZSK still signs: the zone stays valid
    assert [k.key_id for k in usable(out.keys, Role.ZSK)] == [zsk.key_id]
    assert rollover.find_key(out.keys, zsk.key_id).compromised == NOW
    (new,) = [k for k in out.keys if k.key_id not in {x.key_id for x in keys}]
    assert new.state_at(NOW) is KeyState.GENERATED
    assert_no_unbacked_key_in_the_zone(out.keys)

    # the new key archived and proven (the standby still not): it takes over at once
    keys = rollover.record_backup(out.keys, [new.key_id], NOW, "archive").keys
    proven = ready_gate("replicas", frozenset(k.key_id for k in keys) - {standby.key_id}, WAITING)
    done = rollover.run_due(keys, gated, timing, NOW, factory, (proven,))
    assert [k.key_id for k in usable(done.keys, Role.ZSK)] == [new.key_id]
    assert rollover.find_key(done.keys, zsk.key_id).state_at(NOW) is KeyState.RETIRED


def test_a_new_zsk_waits_for_its_backup_and_then_takes_over_at_once(
    gated: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = backed_up_zone(gated, timing, factory)
    zsk = usable(keys, Role.ZSK)[0]
    # no standby: it was compromised too and left the zone
    standby = next(k for k in keys if k.role is Role.ZSK and k.state_at(NOW) is KeyState.PUBLISHED)
    keys = emergency.execute(keys, Role.ZSK, gated, timing, NOW, factory, "x", standby.key_id).keys
    assert rollover.find_key(keys, standby.key_id).state_at(NOW) is KeyState.REMOVED

    preview = emergency.preview(keys, Role.ZSK, gated, timing, NOW)
    assert preview.replacement is None and "keeps signing until then" in preview.text()
    out = emergency.execute(keys, Role.ZSK, gated, timing, NOW, factory, "leak")
    out = out.then(rollover.run_due(out.keys, gated, timing, NOW, factory))
    (new,) = [k for k in out.keys if k.key_id not in {x.key_id for x in keys}]
    assert new.state_at(NOW) is KeyState.GENERATED  # made, not published unbacked
    assert [k.key_id for k in usable(out.keys, Role.ZSK)] == [zsk.key_id]  # never no ZSK
    step = next(s for s in plan(out.keys, gated, timing, NOW).gates if s.role is Role.ZSK)
    assert (step.action, step.key_id, step.emergency) == (Action.PUBLISH, new.key_id, True)
    assert step.waiting_for.name == "backup"

    # archived: published and signing in the same run, the compromised ZSK retired
    later = NOW + timedelta(minutes=5)
    keys = rollover.record_backup(out.keys, [new.key_id], later, "automatic archive").keys
    done = rollover.run_due(keys, gated, timing, later, factory)
    assert [k.key_id for k in done.keys if k.role is Role.ZSK and k.signs_at(later)] == [new.key_id]
    assert rollover.find_key(done.keys, zsk.key_id).state_at(later) is KeyState.RETIRED
    remove = next(s for s in plan(done.keys, gated, timing, later).steps
                  if s.action is Action.REMOVE and s.key_id == zsk.key_id)  # fmt: skip
    assert remove.emergency and remove.due == later + gated.zsk.emergency_postpublish


def test_a_ksk_emergency_new_key_waits_for_backup_and_replicas(
    gated: Policy, timing: TimingParams, factory: KeyFactory
) -> None:
    keys = backed_up_zone(gated, timing, factory)
    ksk = usable(keys, Role.KSK)[0]
    replicas = ready_gate("replicas", frozenset(k.key_id for k in keys), WAITING)
    gates: tuple[Gate, ...] = (replicas,)
    text = emergency.preview(keys, Role.KSK, gated, timing, NOW, gates=gates).text()
    assert "published once backed up and proven on every HSM" in text

    out = emergency.execute(keys, Role.KSK, gated, timing, NOW, factory, "breach", gates=gates)
    out = out.then(rollover.run_due(out.keys, gated, timing, NOW, factory, gates))
    (new,) = [k for k in out.keys if k.role is Role.KSK and k.key_id != ksk.key_id]
    assert new.state_at(NOW) is KeyState.GENERATED and new.ds_submitted is None
    assert zone_view(out.keys, NOW).signing_dnskey == (ksk.key_tag,)  # the chain holds
    step = next(s for s in plan(out.keys, gated, timing, NOW, gates).gates
                if s.role is Role.KSK and s.key_id == new.key_id)  # fmt: skip
    assert {c.name for c in step.constraints if c.is_gate} == {"backup", "replicas"}

    # archived, but the replica lacks it: still out
    keys = rollover.record_backup(out.keys, [new.key_id], NOW, "archive").keys
    held = rollover.run_due(keys, gated, timing, NOW, factory, gates)
    assert rollover.find_key(held.keys, new.key_id).state_at(NOW) is KeyState.GENERATED
    # proven on every HSM: published now, its DS follows as in DPS 4.5.3
    proven = ready_gate("replicas", frozenset(k.key_id for k in keys), WAITING)
    done = rollover.run_due(keys, gated, timing, NOW, factory, (proven,))
    assert rollover.find_key(done.keys, new.key_id).published == NOW


# --- through the key manager: the automatic archive of a cycle ([backup] smk) ----------


class Archive:
    """The ``backup`` hook's part we check here: which keys it was given, in order (the
    archive itself is written and checked on SoftHSM2 in tests/cli)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, key_ids: Sequence[str]) -> str:
        self.calls.append(list(key_ids))
        return f"archive-{len(self.calls)}.json"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_signer_db(f"sqlite:///{tmp_path / 'signer.db'}")
    yield engine
    engine.dispose()


def test_with_an_archive_hook_the_new_key_is_archived_and_introduced_in_the_same_run(
    engine: Engine, gated: Policy
) -> None:
    clock = FakeClock(T0)
    archive = Archive()
    km = KeyManager(engine, MemoryKeyStore(), gated, clock, origin="example", backup=archive)
    km.bootstrap("init")
    km.run_due()  # first keys archived and in; the standby archived and published
    clock.advance(20 * DAY)
    km.ds_seen(next(k for k in km.key_records() if k.role is Role.KSK).key_id, "seen")
    old = next(k for k in km.key_records() if k.role is Role.KSK and k.signs_at(clock.now()))
    calls = len(archive.calls)

    made = km.emergency_rollover(Role.KSK, "breach")
    (new,) = [k for k in km.key_records() if k.role is Role.KSK and k.key_id != old.key_id]
    assert archive.calls[calls:] == [[new.key_id]]  # archived at once
    events = [(t.event, t.key_id) for t in made if t.key_id == new.key_id]
    assert events[:3] == [
        (KeyEvent.GENERATED, new.key_id),
        (KeyEvent.BACKED_UP, new.key_id),
        (KeyEvent.PUBLISHED, new.key_id),
    ]
    assert km.waiting(Role.KSK) == []


def test_without_an_archive_hook_the_manager_says_what_the_new_key_waits_for(
    engine: Engine, gated: Policy
) -> None:
    clock = FakeClock(T0)
    km = KeyManager(engine, MemoryKeyStore(), gated, clock, origin="example")
    km.bootstrap("init")
    km.record_backup([k.key_id for k in km.key_records()], "archive")
    km.run_due()
    clock.advance(20 * DAY)
    km.emergency_rollover(Role.KSK, "breach")
    (line,) = km.waiting(Role.KSK)
    assert "waits for: backup (no [backup] smk configured" in line
    assert all(
        k.backed_up is not None
        for k in km.key_records()
        if k.state_at(clock.now()) in (KeyState.PUBLISHED, KeyState.ACTIVE)
    )
