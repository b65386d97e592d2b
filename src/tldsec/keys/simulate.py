"""The rollover simulation behind ``tldsec keys simulate`` and the rollover proof.

It runs the production rules (``planner``, ``rollover``, ``emergency``) on in-memory
records, leaping a ``FakeClock`` from one due time to the next, with a model parent
zone: a DS change requested at the parent goes live after ``registration_delay`` and
the parent check confirms it (ds-seen / ds-gone) ``check_interval`` later. After each
event it records the DNSKEY RRset (key tags, and which sign the DNSKEY RRset and the
zone) and the parent's DS set.

Pure: the clock is a FakeClock, keys come from a ``KeyFactory`` (fake RSA-shaped keys
for the CLI, SoftHSM2 keys for the proof).
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tldsec.clock import FakeClock
from tldsec.errors import KeyManagementError
from tldsec.keys import algorithm_rollover, emergency, go_insecure, rollover, stagger, transfer
from tldsec.keys.plan import zone_view
from tldsec.keys.planner import Constraint, Gate, Plan, plan
from tldsec.keys.rollover import KeyFactory, Outcome
from tldsec.keys.state import DsState, KeyEvent, KeyRecord, KeyState, Role
from tldsec.keys.timing import TimingParams
from tldsec.policy import FIXED_KEY_BITS, Algorithm, Policy


@dataclass(frozen=True, slots=True)
class ParentModel:
    """How the parent (the root zone, via IANA) behaves in the simulation."""

    registration_delay: timedelta = timedelta(days=2)  # DS change request -> live
    check_interval: timedelta = timedelta(hours=1)  # parent check: live -> confirmed


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One event and the state of the zone and the parent right after it."""

    time: datetime
    event: str
    key_tag: int
    role: Role
    reason: str
    published: tuple[int, ...]
    signing_dnskey: tuple[int, ...]
    signing_zone: tuple[int, ...]
    parent_ds: tuple[int, ...]
    algorithm: int = 0  # the event's key's algorithm
    # every key tag named in this event, with its algorithm (an algorithm rollover has two)
    algorithms: tuple[tuple[int, int], ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "event": self.event,
            "key_tag": self.key_tag,
            "role": str(self.role),
            "reason": self.reason,
            "published": list(self.published),
            "signing_dnskey": list(self.signing_dnskey),
            "signing_zone": list(self.signing_zone),
            "parent_ds": list(self.parent_ds),
            "algorithm": self.algorithm,
            "key_algorithms": {str(tag): alg for tag, alg in self.algorithms},
        }


@dataclass(frozen=True, slots=True)
class SimResult:
    """The whole run: final records (whose facts give the state at any instant)."""

    start: datetime
    end: datetime
    keys: tuple[KeyRecord, ...]
    events: tuple[SimEvent, ...]
    # (time, key ids with a DS in the parent zone from that time on), in time order
    parent_history: tuple[tuple[datetime, frozenset[str]], ...]
    # When going insecure's last step published the zone unsigned (DPS 4.6), if it did
    unsigned_at: datetime | None = None

    def parent_ds_at(self, when: datetime) -> frozenset[str]:
        """Key ids whose DS the parent zone serves at ``when``."""
        times = [t for t, _ in self.parent_history]
        i = bisect.bisect_right(times, when) - 1
        return self.parent_history[i][1] if i >= 0 else frozenset()

    def event_times(self) -> list[datetime]:
        return sorted({e.time for e in self.events})


@dataclass
class _Pending:
    when: datetime
    kind: str  # "add" / "remove" at the parent; "seen" / "gone" confirmations; "backup"
    key_id: str


@dataclass(frozen=True, slots=True)
class AlgorithmRolloverRun:
    """When the simulated operator runs 'keys algorithm-rollover', and with what."""

    at: datetime
    policy: Policy  # the policy from then on: the new algorithm in [ksk] and [zsk]
    factory: KeyFactory  # makes keys of the new algorithm


@dataclass
class Simulation:
    """A run of the key schedule from ``clock.now()`` with a model parent."""

    policy: Policy
    timing: TimingParams
    clock: FakeClock
    factory: KeyFactory
    parent: ParentModel = field(default_factory=ParentModel)
    emergencies: Sequence[tuple[datetime, Role]] = ()
    # Under keystore.backup_before_use: how long after a key is generated its archive
    # under the SMK is written and checked (0: the automatic archive of a ZSK roll).
    backup_delay: timedelta = timedelta(0)
    algorithm_rollover: AlgorithmRolloverRun | None = None
    # When the simulated operator runs 'keys go-insecure' (DPS 4.6), and since when the
    # zone is going insecure (set then, or given for a zone already on its way).
    go_insecure_at: datetime | None = None
    insecure_since: datetime | None = None
    # When the simulated operator imports a gaining operator's DNSKEYs (DPS 4.6,
    # keys/transfer.py); the handover follows as soon as it is allowed.
    transfer_at: datetime | None = None
    handover: transfer.Transfer | None = None
    keys: tuple[KeyRecord, ...] = ()
    # The ksk-stagger wait of a plan (keys/stagger.py ``against``): this zone's scheduled
    # KSK rolls kept away from other zones' DS changes (decision 68); None: alone.
    ksk_stagger: Callable[[Plan, Sequence[KeyRecord]], Constraint | None] | None = None
    events: list[SimEvent] = field(default_factory=list)
    _parent_ds: frozenset[str] = frozenset()
    _parent_history: list[tuple[datetime, frozenset[str]]] = field(default_factory=list)
    _pending: list[_Pending] = field(default_factory=list)

    def run(self, until: datetime) -> SimResult:
        start = self.clock.now()
        self._parent_history.append((start, self._parent_ds))
        if not any(k.state_at(start) is not KeyState.REMOVED for k in self.keys):
            self._record(
                rollover.bootstrap(self.keys, self.policy, start, self.factory, "bootstrap")
            )
        todo = sorted(self.emergencies, key=lambda e: e[0])
        algroll = self.algorithm_rollover
        while True:
            now = self.clock.now()
            self._parent_changes(now)
            if algroll is not None and algroll.at <= now:
                self.policy, self.factory = algroll.policy, algroll.factory
                self._record(
                    algorithm_rollover.start(
                        self.keys,
                        int(algroll.policy.ksk.algorithm),
                        self.policy,
                        now,
                        self.factory,
                        "simulated 'keys algorithm-rollover'",
                    )
                )
                algroll = None
            if self.go_insecure_at is not None and self.go_insecure_at <= now:
                self._record(go_insecure.start(self.keys, now, "simulated 'keys go-insecure'"))
                self.insecure_since, self.go_insecure_at = now, None
            self._transfer(now)
            while todo and todo[0][0] <= now:
                _, role = todo.pop(0)
                self._record(
                    emergency.execute(
                        self.keys,
                        role,
                        self.policy,
                        self.timing,
                        now,
                        self.factory,
                        "simulated key compromise",
                    )
                )
            self._run_due(now)
            # A key generated now whose archive follows at once (backup_delay 0: the
            # automatic archive of a cycle) is backed up now, and what that frees runs now.
            for _ in range(rollover.MAX_STEPS_PER_RUN):
                if not any(p.when <= now for p in self._pending):
                    break
                self._parent_changes(now)
                self._run_due(now)
            nexts = [p.when for p in self._pending]
            if todo:
                nexts.append(todo[0][0])
            if algroll is not None:
                nexts.append(algroll.at)
            if self.go_insecure_at is not None:
                nexts.append(self.go_insecure_at)
            nexts.extend(self._transfer_wakeups(now))
            wake = self._plan(now).next_wakeup()
            if wake is not None:
                nexts.append(wake)
            if not nexts or min(nexts) > until:
                break
            nxt = min(nexts)
            if nxt <= now:
                raise KeyManagementError(f"simulation stuck at {now}: a step is due but not done")
            self.clock.set(nxt)
        return SimResult(
            start=start,
            end=until,
            keys=self.keys,
            events=tuple(self.events),
            parent_history=tuple(self._parent_history),
            unsigned_at=self.unsigned_at(),
        )

    def _run_due(self, now: datetime) -> None:
        for _ in range(rollover.MAX_STEPS_PER_RUN):
            due = self._plan(now).due_steps(now)
            if not due:
                return
            self._record(rollover.apply_step(self.keys, due[0], self.policy, now, self.factory))
        raise KeyManagementError(f"simulation: too many steps due at {now}")

    def _plan(self, now: datetime) -> Plan:
        tr = self.handover
        if tr is not None and tr.ended is not None:
            return Plan(now=now, steps=())  # handed over: nothing of ours is planned
        gates: tuple[Gate, ...] = (transfer.hold_gate(tr),) if tr is not None else ()
        planned = plan(self.keys, self.policy, self.timing, now, gates, self.insecure_since)
        wait = self.ksk_stagger(planned, self.keys) if self.ksk_stagger is not None else None
        if wait is None:
            return planned
        return plan(self.keys, self.policy, self.timing, now, gates, self.insecure_since, wait)

    def _transfer(self, now: datetime) -> None:
        """The operator transfer's steps due at ``now``: the import, the gaining
        operator's DS at the parent, the handover once allowed, what follows it."""
        if self.transfer_at is not None and self.transfer_at <= now:
            self.transfer_at = None
            made = [self.factory(role, now) for role in (Role.KSK, Role.ZSK)]
            keys = tuple(
                transfer.ForeignKey(k.flags, k.algorithm, k.public_key, "gaining", now)
                for k in made
            )
            self.handover = transfer.Transfer("gaining", now, keys)
            for k in keys:
                self._append(now, "transfer.imported", k.key_tag, k.role, "simulated import")
            for k in self.handover.ksks(now):
                self._pending.append(
                    _Pending(now + self.parent.registration_delay, "peer-add", k.key_id)
                )
        tr = self.handover
        if tr is None or tr.ended is not None:
            return
        due = transfer.handover_due(tr, self.timing)
        if tr.handed_over is None and due is not None and due <= now:
            tr = self.handover = dataclasses.replace(tr, handed_over=now)
            ksk = tr.ksks(now)[0]
            self._append(now, "transfer.handed-over", ksk.key_tag, Role.KSK, "simulated handover")
        outcome, ended = transfer.after_handover(tr, self.keys, self.timing, now)
        self._record(outcome)
        if ended:
            self.handover = dataclasses.replace(tr, ended=now)
            ksk = tr.ksks(now)[0]
            self._append(now, "transfer.ended", ksk.key_tag, Role.KSK, "our role ended")

    def _transfer_wakeups(self, now: datetime) -> list[datetime]:
        if self.transfer_at is not None:
            return [self.transfer_at]
        tr = self.handover
        if tr is None or tr.ended is not None:
            return []
        due = transfer.handover_due(tr, self.timing)
        if tr.handed_over is None:
            return [due] if due is not None and due > now else []
        gone = tr.handed_over + transfer.ns_interval(self.timing)
        return [gone] if gone > now else []

    def unsigned_at(self) -> datetime | None:
        """When the simulated zone went unsigned (going insecure's last step), if it did."""
        return go_insecure.unsigned_at(self.keys, self.insecure_since)

    def _parent_changes(self, now: datetime) -> None:
        due = sorted((p for p in self._pending if p.when <= now), key=lambda p: p.when)
        for p in due:
            self._pending.remove(p)
            if p.kind.startswith("peer-"):
                self._peer_change(p, now)
                continue
            key = rollover.find_key(self.keys, p.key_id)
            if p.kind == "backup":
                self._record(
                    rollover.record_backup(
                        self.keys, [p.key_id], now, "archive under the SMK written and checked"
                    )
                )
            elif p.kind in ("add", "remove"):
                if p.kind == "add":
                    self._parent_ds = self._parent_ds | {p.key_id}
                    follow, event = "seen", "parent.ds-added"
                else:
                    self._parent_ds = self._parent_ds - {p.key_id}
                    follow, event = "gone", "parent.ds-removed"
                self._parent_history.append((p.when, self._parent_ds))
                self._event(p.when, event, key, "the parent zone changed (IANA processed it)")
                self._pending.append(
                    _Pending(p.when + self.parent.check_interval, follow, p.key_id)
                )
            elif p.kind == "seen":
                if key.ds_withdrawal_requested is None and key.ds_seen is None:
                    self._record(
                        rollover.confirm_ds_seen(self.keys, p.key_id, now, "parent check: DS seen")
                    )
            elif key.ds_withdrawn is None:
                self._record(
                    rollover.confirm_ds_withdrawn(self.keys, p.key_id, now, "parent check: DS gone")
                )

    def _peer_change(self, p: _Pending, now: datetime) -> None:
        """The gaining operator's DS at the model parent, and the check that sees it."""
        tr = self.handover
        assert tr is not None
        key = next(k for k in tr.keys if k.key_id == p.key_id)
        if p.kind == "peer-add":
            self._parent_ds = self._parent_ds | {p.key_id}
            self._parent_history.append((p.when, self._parent_ds))
            self._append(p.when, "parent.ds-added", key.key_tag, Role.KSK, "the gaining "
                         "operator's DS (IANA processed it)")  # fmt: skip
            self._pending.append(
                _Pending(p.when + self.parent.check_interval, "peer-seen", p.key_id)
            )
        elif tr.peer_ds_seen is None:
            self.handover = dataclasses.replace(tr, peer_ds_seen=now)
            self._append(now, "transfer.peer-ds-seen", key.key_tag, Role.KSK, "parent check")

    def _record(self, outcome: Outcome) -> None:
        # Rebuild the records fact by fact, so each event shows the state right after it.
        final = {k.key_id: k for k in outcome.keys}
        working = {k.key_id: k for k in self.keys}
        for tr in outcome.transitions:
            if tr.event is KeyEvent.GENERATED:
                working[tr.key_id] = final[tr.key_id].bare()
            elif tr.event.fact is not None:
                working[tr.key_id] = working[tr.key_id].with_fact(tr.event, tr.time)
            self.keys = tuple(working.values())
            if tr.event is KeyEvent.GENERATED and self.policy.backup_before_use:
                self._pending.append(_Pending(tr.time + self.backup_delay, "backup", tr.key_id))
            elif tr.event is KeyEvent.DS_SUBMITTED:
                self._pending.append(
                    _Pending(tr.time + self.parent.registration_delay, "add", tr.key_id)
                )
            elif tr.event is KeyEvent.DS_WITHDRAWAL_REQUESTED:
                self._pending.append(
                    _Pending(tr.time + self.parent.registration_delay, "remove", tr.key_id)
                )
            self._append(tr.time, str(tr.event), tr.key_tag, tr.role, tr.reason)
        self.keys = outcome.keys

    def _event(self, when: datetime, event: str, key: KeyRecord, reason: str) -> None:
        self._append(when, event, key.key_tag, key.role, reason)

    def _append(self, when: datetime, event: str, tag: int, role: Role, reason: str) -> None:
        view = zone_view(self.keys, when)
        tags = {k.key_id: k.key_tag for k in self.keys}
        foreign = self.handover.live_keys(when) if self.handover is not None else ()
        if self.handover is not None and self.handover.ended is None:
            view = dataclasses.replace(
                view, published=tuple(sorted((*view.published, *(k.key_tag for k in foreign))))
            )
        tags.update({k.key_id: k.key_tag for k in (self.handover.keys if self.handover else ())})
        parent_ds = tuple(sorted(tags[i] for i in self._parent_ds))
        by_tag = {k.key_tag: int(k.algorithm) for k in self.keys}
        by_tag.update({k.key_tag: int(k.algorithm) for k in foreign})
        named = {tag, *view.published, *view.signing_dnskey, *view.signing_zone, *parent_ds}
        self.events.append(
            SimEvent(
                time=when,
                event=event,
                key_tag=tag,
                role=role,
                reason=reason,
                published=view.published,
                signing_dnskey=view.signing_dnskey,
                signing_zone=view.signing_zone,
                parent_ds=parent_ds,
                algorithm=by_tag.get(tag, 0),
                algorithms=tuple(sorted((t, by_tag[t]) for t in named if t in by_tag)),
            )
        )


def fake_key_factory(policy: Policy, seed: int = 0, prefix: str = "sim") -> KeyFactory:
    """Keys shaped like DNSKEYs of the policy's algorithm (RFC 3110 for RSA, 64 octets
    for ECDSA P-256, RFC 6605), from a seeded generator: no key store."""
    rng = random.Random(seed)
    counter = itertools.count(1)

    def make(role: Role, now: datetime) -> KeyRecord:
        kp = policy.ksk if role is Role.KSK else policy.zsk
        if kp.algorithm in FIXED_KEY_BITS:
            public = rng.getrandbits(2 * kp.bits).to_bytes(2 * kp.bits // 8, "big")
        else:
            modulus = rng.getrandbits(kp.bits) | (1 << (kp.bits - 1)) | 1
            public = b"\x03" + (65537).to_bytes(3, "big") + modulus.to_bytes(kp.bits // 8, "big")
        n = next(counter)
        return KeyRecord(
            key_id=f"{prefix}-{role}-{n}",
            role=role,
            algorithm=kp.algorithm,
            bits=kp.bits,
            public_key=public,
            created=now,
            label=f"sim {role} {n}",
        )

    return make


def simulate(
    policy: Policy,
    timing: TimingParams,
    start: datetime,
    days: int,
    *,
    factory: KeyFactory | None = None,
    parent: ParentModel | None = None,
    emergency_zsk_at: float | None = None,
    emergency_ksk_at: float | None = None,
    backup_delay: timedelta = timedelta(0),
    algorithm_rollover_at: float | None = None,
    to_algorithm: int | None = None,
    rollover_factory: KeyFactory | None = None,
    go_insecure_at: float | None = None,
    transfer_at: float | None = None,
    ksk_stagger: Callable[[Plan, Sequence[KeyRecord]], Constraint | None] | None = None,
) -> SimResult:
    """Run the schedule for ``days`` from ``start`` (emergencies at day offsets); under
    ``backup_before_use`` each new key is backed up ``backup_delay`` after it is made.
    ``algorithm_rollover_at``: the day the operator starts the rollover to
    ``to_algorithm`` (policy changed then; new keys from ``rollover_factory``).
    ``go_insecure_at``: the day the operator runs 'keys go-insecure' (DPS 4.6): every DS
    withdrawn, then the zone published unsigned once no cache can hold one.
    ``transfer_at``: the day the operator imports a gaining operator's DNSKEYs (DPS 4.6,
    keys/transfer.py); its DS reaches the parent, the handover is made as soon as it is
    allowed, our DS leaves, then every key of ours. ``ksk_stagger``: the zone's KSK rolls
    staggered against other zones' (``stagger.against``, decision 68)."""
    if days <= 0:
        raise ValueError("simulate at least one day")
    algroll = None
    if algorithm_rollover_at is not None:
        if to_algorithm is None:
            raise ValueError("an algorithm rollover needs the algorithm to roll to")
        new_policy = policy_for_algorithm(policy, to_algorithm)
        algroll = AlgorithmRolloverRun(
            at=start + timedelta(days=algorithm_rollover_at),
            policy=new_policy,
            factory=rollover_factory
            or fake_key_factory(new_policy, seed=to_algorithm, prefix=f"sim{to_algorithm}"),
        )
    emergencies: list[tuple[datetime, Role]] = []
    if emergency_zsk_at is not None:
        emergencies.append((start + timedelta(days=emergency_zsk_at), Role.ZSK))
    if emergency_ksk_at is not None:
        emergencies.append((start + timedelta(days=emergency_ksk_at), Role.KSK))
    sim = Simulation(
        policy=policy,
        timing=timing,
        clock=FakeClock(start),
        factory=factory or fake_key_factory(policy),
        parent=parent or ParentModel(),
        emergencies=emergencies,
        backup_delay=backup_delay,
        algorithm_rollover=algroll,
        go_insecure_at=None if go_insecure_at is None else start + timedelta(days=go_insecure_at),
        transfer_at=None if transfer_at is None else start + timedelta(days=transfer_at),
        ksk_stagger=ksk_stagger,
    )
    return sim.run(start + timedelta(days=days))


def ds_events(result: SimResult) -> tuple[tuple[stagger.DsEvent, datetime], ...]:
    """A simulated zone's DS changes asked of the parent: what another zone's KSK rolls
    are staggered against (decision 68)."""
    kinds = {
        str(KeyEvent.DS_SUBMITTED): stagger.DsEvent.SUBMISSION,
        str(KeyEvent.DS_WITHDRAWAL_REQUESTED): stagger.DsEvent.WITHDRAWAL,
    }
    return tuple((kinds[e.event], e.time) for e in result.events if e.event in kinds)


def policy_for_algorithm(policy: Policy, algorithm: int) -> Policy:
    """``policy`` with [ksk] and [zsk] on ``algorithm`` (ECDSA: the curve's size)."""
    try:
        alg = Algorithm(algorithm)
    except ValueError:
        raise KeyManagementError(f"algorithm {algorithm} is not one tldsec signs with") from None
    fixed = FIXED_KEY_BITS.get(alg)
    return dataclasses.replace(
        policy,
        ksk=dataclasses.replace(policy.ksk, algorithm=alg, bits=fixed or policy.ksk.bits),
        zsk=dataclasses.replace(policy.zsk, algorithm=alg, bits=fixed or policy.zsk.bits),
    )


def forecast(
    keys: Sequence[KeyRecord],
    policy: Policy,
    timing: TimingParams,
    start: datetime,
    days: int,
    *,
    factory: KeyFactory | None = None,
    parent: ParentModel | None = None,
    backup_delay: timedelta = timedelta(0),
    insecure_since: datetime | None = None,
    handover: transfer.Transfer | None = None,
) -> SimResult:
    """The schedule of the zone's keys as they are at ``start``, ``days`` ahead: the
    rollover calendar of the public repository (DPS 2.2). ``insecure_since``: the zone
    is going insecure (DPS 4.6): no KSK rolls, the zone is published unsigned at the end.
    ``handover``: the operator transfer under way (DPS 4.6, keys/transfer.py); its hold
    gate keeps every new key of ours out until it ends or is cancelled.

    The parent holds the DS of each KSK whose DS is seen at ``start``; a DS submitted
    (or withdrawal requested) and not yet confirmed is taken to change at the parent
    ``registration_delay`` after the request (at ``start`` at the earliest); a key that
    waits for its backup (DPS 5.2.4) is taken to be archived ``backup_delay`` after
    ``start``. These are the assumptions behind every date after a gate."""
    if days <= 0:
        raise ValueError("forecast at least one day")
    model = parent or ParentModel()
    sim = Simulation(
        policy=policy,
        timing=timing,
        clock=FakeClock(start),
        factory=factory or _forecast_factory(policy, start),
        parent=model,
        backup_delay=backup_delay,
        keys=tuple(keys),
        insecure_since=insecure_since,
        handover=handover,
    )
    for k in keys:
        ds = k.ds_state_at(start)
        if ds in (DsState.SEEN, DsState.WITHDRAWAL_REQUESTED):
            sim._parent_ds = sim._parent_ds | {k.key_id}
        if ds is DsState.SUBMITTED and k.ds_submitted is not None:
            when = max(start, k.ds_submitted + model.registration_delay)
            sim._pending.append(_Pending(when, "add", k.key_id))
        if ds is DsState.WITHDRAWAL_REQUESTED and k.ds_withdrawal_requested is not None:
            when = max(start, k.ds_withdrawal_requested + model.registration_delay)
            sim._pending.append(_Pending(when, "remove", k.key_id))
        waiting = k.backed_up is None and k.state_at(start) is not KeyState.REMOVED
        if policy.backup_before_use and waiting:
            sim._pending.append(_Pending(start + backup_delay, "backup", k.key_id))
    return sim.run(start + timedelta(days=days))


def _forecast_factory(policy: Policy, start: datetime) -> KeyFactory:
    """Fake keys whose ids cannot be those of the zone's keys (even simulated ones)."""
    fake = fake_key_factory(policy, seed=start.toordinal())

    def make(role: Role, now: datetime) -> KeyRecord:
        key = fake(role, now)
        return dataclasses.replace(key, key_id=f"forecast-{key.key_id}")

    return make


def format_table(events: Sequence[SimEvent]) -> str:
    """The timeline as a plain-text table, one line per event."""
    head = ("time (UTC)", "event", "key", "DNSKEY RRset", "signs DNSKEY", "signs zone", "parent DS")
    rows = [
        (
            e.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            e.event,
            f"{e.role} {e.key_tag}",
            " ".join(map(str, e.published)),
            " ".join(map(str, e.signing_dnskey)),
            " ".join(map(str, e.signing_zone)),
            " ".join(map(str, e.parent_ds)),
        )
        for e in events
    ]
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in (head, *rows)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
