"""One zone cycle: build -> keys -> sign -> verify -> distribute, atomically (DPS 5.6, 6).

A cycle builds the unsigned zone from one snapshot of the registry, lets the key manager
carry out the key steps that are due, signs with the keys in use now (reusing every
signature DPS 6.5 allows: it patches the zone distributed last, or reads its signatures),
verifies the result through the gate (DPS 6.6) straight into the distribution store,
and commits it there: the primary then serves it and notifies the secondaries.

Atomic and re-runnable: each stage writes only private files or commits its own
transaction; the one commit point is the store's ``current`` pointer. Killed at any
instant, the last good zone stays distributed; the next cycle (under the store's lock)
removes the leftovers and starts again. A zone that fails verification is never
distributed: the previous one stays, the refused candidate is kept for inspection, and
an incident is raised (DPS 4.5.1) in the log, the audit log and ``tldsec status``.

The unsigned zone is reconciled with the registry before it is signed
(``reconcile``): its delegation records must equal what the registry database holds in
the snapshot it was built from, read by other queries than the builder's -- the whole
zone after a full build and at least every ``[verify] full_every_hours``, the owners the
registry changed otherwise. An unsigned file that is not the one the last cycle built
and reconciled (edited outside the builder) is not built on: an incident, and a full
build. A zone that does not reconcile is refused, an incident, like a failed
verification.

Two guards stand before publication. Collapse (``guard``): a zone that loses more than
a configured share of its delegations or DS RRsets, or any of them down to none, or
changes size by more than a share, is held -- not signed, not published, an incident --
until an operator accepts that very change (``accept``). Published bytes
(``filedigest``): the previous zone is reused (its bytes patched, its signatures
copied) only if it still equals the digest the gate recorded when it published it;
otherwise it is an incident and the zone is signed and verified in full, reusing
nothing.

After going insecure's last step (DPS 4.6, decision 46) the key manager's zone fact
``unsigned_since`` puts the cycle in its unsigned mode: the same build, reconciliation
and guards, then the zone written with no DNSSEC record (``signer/unsigned.py``) and
the gate in its insecure-by-design mode (``verify/insecure.py``), told the fact
(``cycle/unsigned.py``). Nothing else does: no setting makes the cycle publish an
unsigned zone.

After an operator transfer's last step (DPS 4.6, decision 47: the zone handed to another
operator and our role ended) the zone is another operator's: a state, not a failure. The
cycle that takes that step ends ``unchanged`` (nothing is signed or distributed any more;
the last serial we signed stays in the store), and every later cycle is skipped with an
INFO line saying to whom and since when; ``pending`` finds nothing to do.

``Cycle.pending`` says whether a cycle has anything to do: a registry change since the
last serial, a key step due, a change of keys or policy, or a signature to refresh. When
none is, the cycle costs a few small queries and a JSON file read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from tldsec.audit.log import AuditLog
from tldsec.clock import Clock, from_epoch, to_epoch
from tldsec.cycle import changes, replicas
from tldsec.cycle.guard import GuardSettings
from tldsec.cycle.result import CycleResult, Outcome, RunLog
from tldsec.cycle.safeguards import Safeguards, apex_of
from tldsec.cycle.state import (
    UNSIGNED_NAME,
    CycleState,
    Pending,
    write_atomic,
    zone_paths,
)
from tldsec.cycle.trace import Included
from tldsec.cycle.trace import record as record_trace
from tldsec.cycle.unsigned import UnsignedMode, unsigned_fingerprint
from tldsec.distribute.store import ZoneStore
from tldsec.errors import (
    CeremonyRefused,
    CycleError,
    DistributionError,
    KeyStoreError,
    KeyStoreLoginError,
    TldsecError,
    ZoneError,
    ZoneSyntaxError,
)
from tldsec.filedigest import load_record
from tldsec.hsm.base import KeyStore
from tldsec.keys.service import KeyManager
from tldsec.keys.state import Transition
from tldsec.keys.transfer import Transfer
from tldsec.progress import ProgressLine, progress_lines
from tldsec.registry.context import rules_from_settings
from tldsec.registry.database import RegistryDatabase
from tldsec.settings import Settings
from tldsec.signconf import SigningConfig
from tldsec.signer.files import sign_zone_file
from tldsec.verify.coverage import ExpectedSigners
from tldsec.verify.options import KeyOpener, VerifyOptions
from tldsec.zone.buildinfo import BuildInfo, distrust, line_owner, trust
from tldsec.zone.incremental import build_zone_file
from tldsec.zone.quarantine import Quarantined, resolved
from tldsec.zone.serial import allocate_serial
from tldsec.zonehome import ZoneHome

log = logging.getLogger("tldsec.cycle")

Recorder = Callable[..., object]


@dataclass
class Cycle(UnsignedMode, Safeguards):
    """The parts one cycle works with, built by an entry point (``open_cycle``)."""

    settings: Settings
    clock: Clock
    registry: RegistryDatabase
    keys: KeyManager
    keystore: KeyStore | None
    store: ZoneStore
    verify: VerifyOptions
    # The zone's id in the registry (``zone.id`` of ``settings.origin``): every registry
    # row the cycle reads or writes is this zone's (decision 57).
    zone_id: int
    opener: KeyOpener | None = None
    recorder: Recorder | None = None
    checkpoint: Callable[[], object] | None = None
    workers: int = 1
    guards: GuardSettings = field(default_factory=GuardSettings)
    # The held change an operator accepted for this run (``tldsec cycle --accept-change``),
    # and who: it is published if the build gives exactly that change.
    accept: str | None = None
    operator: str = "person:unknown"
    audit: AuditLog | None = None  # the log ``recorder`` appends to (for the ceremony gate)
    # Every HSM (the primary and each replica, or why it could not be opened): the keys
    # are proven on each before the key steps run (cycle/replicas.py). None: no replica.
    hsms: dict[str, KeyStore | KeyStoreError] | None = None

    @property
    def paths(self) -> ZoneHome:
        """The zone's own directory, ``zones/NAME/`` (decision 57)."""
        return zone_paths(self.settings)

    @property
    def state_path(self) -> Path:
        return self.paths.cycle_state

    def state(self) -> CycleState:
        return CycleState.load(self.state_path)

    # --- is there anything to do? -------------------------------------------------------

    def pending(self, now: datetime | None = None) -> Pending | None:
        """Why a cycle must run now, or None: nothing changed and nothing is due."""
        now = now or self.clock.now()
        if self.keys.handed_over(now) is not None:
            return None  # handed over to another operator: nothing is ours to sign
        state = self.state()
        distributed = self.store.current()
        if distributed is None:
            return Pending("first", "no zone distributed yet")
        if state.serial != distributed:
            return Pending(
                "interrupted", f"serial {distributed} in the store is not the last cycle's"
            )
        if load_record(self.store.zone_path(distributed)) is None:
            # Published before digests were kept, or its record was lost: the primary
            # will not serve it, so a cycle signs and verifies a new serial in full now.
            return Pending(
                "integrity", f"serial {distributed} has no digest record of its verified bytes"
            )
        if state.held is not None and self._unchanged_since(state.held.get("registry_change")):
            # The same zone would be held again: it waits for an operator's decision
            # (``tldsec cycle --accept-change``) or a registry change of this zone.
            return None
        since = self._oldest_change_after(state.change_id)
        if since is not None:
            return Pending("registry", f"registry changes since serial {distributed}", since)
        since = self._late_change()
        if since is not None:
            return Pending(
                "registry", f"a registry change committed late after serial {distributed}", since
            )
        fixed = self._quarantine_resolved()
        if fixed is not None:
            # Waiting since it was withheld: the debounce is long past, it runs at once.
            return Pending(
                "registry",
                f"quarantined {fixed.kind} {fixed.name} can be published again",
                from_epoch(fixed.since),
            )
        key_plan = self.keys.plan(now)
        due = key_plan.due_steps()
        if due:
            return Pending("keys", f"key step due: {due[0].describe()}")
        handover_step = self.keys.transfer_step_due(now)
        if handover_step is not None:  # after an operator transfer's handover
            return Pending("keys", f"key step due: {handover_step}")
        if self.settings.config.backup.smk and any(
            s.waiting_for.name == "backup" for s in key_plan.gates
        ):
            # DPS 5.2.4: with [backup] smk the cycle archives a key that waits for its
            # backup itself (a key made before the SMK was configured, say).
            return Pending("keys", "a key waits for its archive under [backup] smk")
        config = self._signing_config(now)
        if _fingerprint(self.settings, config) != state.fingerprint:
            return Pending("config", "keys, policy or apex changed")
        if config is None:
            return None  # published unsigned (DPS 4.6): no signature to refresh
        if state.resign_at is None or to_epoch(now) >= state.resign_at:
            return Pending("refresh", "signatures due for refresh (DPS 6.5)")
        return None

    def _signing_config(self, now: datetime) -> SigningConfig | None:
        """What the signer signs with at ``now``; None once the zone is published unsigned
        (going insecure's last step taken: the key manager's ``unsigned_since``)."""
        if self.keys.unsigned_since() is not None:
            return None
        return self.keys.signing_config(now)

    def _oldest_change_after(self, change_id: int) -> datetime | None:
        """When the zone's oldest zone_change row after ``change_id`` was written (None:
        none). Change ids are the registry's; each row names its zone (decision 65)."""
        with self.registry.read() as session:
            return changes.oldest_change_after(session, self.zone_id, change_id)

    def _unchanged_since(self, change_id: object) -> bool:
        """Whether the zone has no change after the held build's ``change_id`` (the
        registry's newest id when it was built): another zone's changes do not count."""
        if not isinstance(change_id, int):
            return False
        with self.registry.read() as session:
            return not changes.changed_after(session, self.zone_id, change_id)

    def _late_change(self) -> datetime | None:
        """When the oldest change the last build missed but the registry now shows was
        written: on PostgreSQL a transaction can commit after one holding a higher change
        id, so the build keeps the ids it did not see (``BuildInfo.unsettled``)."""
        info = BuildInfo.load(self.paths.work / UNSIGNED_NAME)
        if info is None or not info.unsettled:
            return None
        with self.registry.read() as session:
            return changes.oldest_late_change(session, self.zone_id, list(info.unsettled))

    def _quarantine_resolved(self) -> Quarantined | None:
        """A quarantined object the registry now lets go (fixed in the database even
        without a zone_change row), or None (zone/quarantine.py)."""
        info = BuildInfo.load(self.paths.work / UNSIGNED_NAME)
        if info is None or not info.quarantine:
            return None
        with self.registry.read() as session:
            found = resolved(
                session, rules_from_settings(self.settings), info.quarantine, self.zone_id
            )
        return found[0] if found else None

    # --- one cycle --------------------------------------------------------------------------

    def run(
        self, *, force: bool = False, on_published: Callable[[int], None] | None = None
    ) -> CycleResult:
        """Run one cycle (or find there is nothing to do, unless ``force``)."""
        if self.keystore is None:
            raise CycleError("a cycle needs the key store: open the cycle with the HSM")
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(self.store.writer(wait=False))
            except DistributionError as exc:
                raise CycleError(f"another cycle is running: {exc}") from exc
            return self._run(force, on_published)

    def _run(self, force: bool, on_published: Callable[[int], None] | None) -> CycleResult:
        t0 = time.perf_counter()
        now = self.clock.now()
        run = RunLog(started=now, t0=t0, distributed=self.store.current())
        ended = self.keys.handed_over(now)
        if ended is not None:
            result = run.result(Outcome.UNCHANGED, f"nothing to do: {handed_over_note(ended)}")
            log.info("cycle for %s skipped: %s", self.settings.origin, result.reason)
            self._save(result)
            return result
        refused = self._unapproved_config(run)
        if refused is not None:
            return refused
        pending = Pending("forced", "forced") if force else self.pending(now)
        if pending is None:
            result = run.result(Outcome.UNCHANGED, "nothing changed and nothing is due")
            self._save(result)
            return result
        reason = pending.reason
        log.info("cycle for %s: %s", self.settings.origin, reason)
        try:
            result = self._stages(run, reason, now)
        except (TldsecError, OSError, SQLAlchemyError) as exc:
            # A stage failed (a database, the HSM, the disk): nothing was distributed.
            result = run.result(Outcome.FAILED, reason, error=f"{type(exc).__name__}: {exc}")
            log.error("cycle failed at %s: %s", run.stage, exc)
            if run.stage == "sign" and isinstance(exc, ZoneError):
                self._distrust_build(f"the signer refused the unsigned zone: {exc}", exc)
            self._record(
                "cycle.failed",
                "component:cycle",
                serial=run.serial,
                stage=run.stage,
                error=str(exc),
            )
            if isinstance(exc, KeyStoreError) and not isinstance(exc, KeyStoreLoginError):
                # DPS 4.4.1: a cryptographic device failure is its own event (a refused
                # login is an access failure, recorded where the login was tried).
                self._record("hsm.failure", "component:cycle", stage=run.stage, error=str(exc))
        self._save(result)
        if run.serial is not None and run.marks:
            record_trace(self.registry, self.zone_id, run.serial, run.included, run.marks)
        if result.outcome is Outcome.PUBLISHED and on_published is not None:
            assert result.serial is not None
            on_published(result.serial)
        if self.checkpoint is not None:
            self.checkpoint()
        return result

    def _stages(self, run: RunLog, reason: str, now: datetime) -> CycleResult:
        origin, work = self.settings.origin, self.paths.work
        if self.keys.transfer_end_due(now):
            # The operator transfer's last step: nothing to build or sign any more.
            run.enter("keys")
            return self._role_ended(run, reason, self.keys.run_due())
        work.mkdir(parents=True, exist_ok=True)
        distributed = run.distributed

        run.enter("build")
        with self.registry.write() as session:
            # RFC 1982: never behind what is distributed, even after a database restore.
            serial = allocate_serial(session, self.zone_id, now, at_least=(distributed or 0) + 1)
        run.serial = serial
        unsigned_path = work / UNSIGNED_NAME
        base_trusted = self._unsigned_base(run, unsigned_path)
        before = BuildInfo.load(unsigned_path)
        # The file the last cycle reconciled, kept (a second link) while the build replaces
        # it: the incremental digest check reads its rewritten owners (``ledger``).
        previous_file = work / (UNSIGNED_NAME + ".reconciled")
        previous_file.unlink(missing_ok=True)
        if base_trusted and unsigned_path.exists():
            os.link(unsigned_path, previous_file)
        with contextlib.ExitStack() as cleanup, self.registry.snapshot() as session:
            cleanup.callback(previous_file.unlink, missing_ok=True)
            # From the previous unsigned file and the changes since, when it can be trusted.
            built = build_zone_file(
                session,
                unsigned_path,
                zone_id=self.zone_id,
                origin=origin,
                apex=apex_of(self.settings),
                ttl=self.settings.policy.ttl,
                rules=rules_from_settings(self.settings),
                serial=serial,
                built_at=now,
                incremental=base_trusted,
                progress=progress_lines("cycle: build"),
                ledger=True,  # an owner whose rows differ from the registry's digest: held
            )
            run.stats.update(
                delegations=built.delegations,
                with_ds=built.signed_delegations,
                unsigned_bytes=unsigned_path.stat().st_size,
                incremental_build=int(built.incremental),
                quarantined=len(built.quarantined),
            )
            self._record_quarantine(built.newly_quarantined, built.released, serial)
            run.enter("reconcile")
            # In the build's snapshot: the registry at the build's change id. What the
            # builder withheld (zone.quarantine) is left out on both sides.
            reconciled, digest = self._reconcile(
                session,
                unsigned_path,
                full=not built.incremental,
                withheld=[q.name for q in built.quarantined],
                previous_file=previous_file if previous_file.exists() else None,
            )
        change_id = built.last_change_id
        after = BuildInfo.load(unsigned_path)
        unsettled = set(after.unsettled) if after is not None else set()
        run.included = Included(
            after=self.state().change_id,
            upto=change_id,
            unsettled=unsettled,
            late=set(before.unsettled) - unsettled if before is not None else (),
            withheld={q.name for q in built.quarantined},
            released={q.name for q in built.released},
        )
        run.marks.append(("built", self.clock.now()))
        if not reconciled.equal or digest is None or not digest.equal:
            return self._unreconciled(run, reason, reconciled, digest)
        held = self._collapse(run)
        if held is not None:
            return self._hold(run, reason, held, change_id)

        run.enter("keys")
        if self.hsms is not None:
            # Before any key enters the DNSKEY RRset: every HSM proves every key; the
            # key manager's replica gate reads the report just written.
            report = replicas.check(
                self.settings,
                self.hsms,
                self.keys.key_records(),
                now,
                self.recorder,
                "component:cycle",
            )
            for proof in report.incidents:
                log.error("INCIDENT replica proof: %s", proof.line())
            run.stats["replica_incidents"] = len(report.incidents)
        transitions = self.keys.run_due()
        if transitions:
            # The steps take effect when they are made (the key manager's clock), after
            # this run began: a key published and activated now (the first keys once
            # their backup is checked, DPS 5.2.4) signs this zone, so sign as of then.
            now = max(now, *(t.time for t in transitions))
        run.transitions = tuple(
            f"{t.role} {t.key_tag}: {t.event} ({t.reason})" for t in transitions
        )
        if self.keys.handed_over(now) is not None:
            # The transfer's last step fell due during the build (our DS seen gone by the
            # parent check meanwhile): the zone built is not ours to sign.
            run.serial, run.marks = None, []
            return self._role_ended(run, reason, transitions)
        # Read after the key steps: the last step of going insecure may just have run.
        unsigned_since = self.keys.unsigned_since()
        config = None if unsigned_since is not None else self.keys.signing_config(now)
        anchor = work / "trust-anchor.ds"
        write_atomic(anchor, _trust_anchor(self.keys, config, now))

        run.enter("sign")
        assert self.keystore is not None
        candidate = work / f"{serial}.signed"
        previous, checked, damaged = self._previous_zone(run, distributed)
        if config is None:
            assert unsigned_since is not None
            return self._unsigned_stages(
                run, reason, now, unsigned_since, candidate, anchor, damaged, checked, change_id
            )
        signed = sign_zone_file(
            unsigned_path,
            candidate,
            origin,
            config,
            self.keystore,
            now,
            previous=previous,
            workers=self.workers,
            header=f"signed by tldsec at {now:%FT%TZ}",
            # a first or full signing takes minutes: a bar on a terminal, under serve
            # a line in its log every 10 s (issue 22)
            progress=ProgressLine("cycle: signing"),
        )
        expiry = signed.earliest_expiry
        run.stats.update(
            incremental_sign=int(signed.mode == "incremental"),
            **signed.counted(),
            signatures_made=signed.signatures_made,
            signatures_reused=signed.signatures_reused,
            nsec3=signed.nsec3_records,
        )
        run.marks.append(("signed", self.clock.now()))
        self._record(
            "signer.run_completed",
            "component:signer",
            zone=origin,
            serial=serial,
            mode=signed.mode,
            signed=signed.signatures_made,
            reused=signed.signatures_reused,
            keys=[k.key_id for k in config.keys if k.sign_zone or k.sign_dnskey],
        )

        verdict = self._verify_candidate(
            run,
            now,
            candidate,
            anchor,
            unsigned_path,
            damaged,
            checked,
            replace(self.verify, expected=ExpectedSigners.from_config(config)),
            reconciliation=reconciled.describe(),
            registry_digest=digest.describe(),
        )
        if not verdict.passed:
            run.marks.append(("refused", self.clock.now()))
            return self._refuse(run, reason, candidate, verdict)
        run.marks.append(("verified", self.clock.now()))

        run.enter("distribute")
        published = self.store.zone_path(serial)
        # The incremental gate compared the bytes outside the patch already.
        diff = self.store.publish(
            serial, candidate, patch_checked=verdict.incremental, diff=damaged is None
        )
        trust(unsigned_path)
        run.stats["incremental_verify"] = int(verdict.incremental)
        run.stats["changes"] = diff.changes if diff else 0
        self._record(
            "zone.published",
            "component:distributor",
            zone=origin,
            serial=serial,
            target=str(published),
            changes=run.stats["changes"],
            # DPS 6.5: the margin the compliance report shows (audit/compliance.py)
            earliest_signature_expiry=None if expiry is None else from_epoch(expiry),
        )
        run.marks.append(("published", self.clock.now()))
        result = run.result(Outcome.PUBLISHED, reason)
        self._record(
            "cycle.completed",
            "component:cycle",
            zone=origin,
            serial=serial,
            milliseconds={k: int(v * 1000) for k, v in result.timings.items()},
        )
        refresh = int(config.refresh.total_seconds())
        self._advance(
            serial=serial,
            change_id=change_id,
            fingerprint=_fingerprint(self.settings, config),
            resign_at=None if expiry is None else expiry - refresh,
            earliest_expiry=expiry,
            held=None,
        )
        return result

    def _role_ended(self, run: RunLog, reason: str, transitions: list[Transition]) -> CycleResult:
        """The cycle that took the transfer's last step: it succeeded; nothing more is
        signed or distributed, and the last serial we signed stays in the store."""
        run.transitions = tuple(
            f"{t.role} {t.key_tag}: {t.event} ({t.reason})" for t in transitions
        )
        ended = self.keys.handed_over()
        if ended is None:  # the step did not happen after all (another writer)
            raise CycleError("the operator transfer's last step was due but was not taken")
        note = handed_over_note(ended)
        log.info("cycle for %s: our role ended: %s", self.settings.origin, note)
        return run.result(
            Outcome.UNCHANGED,
            f"{reason}; our role ended: {note}; serial {run.distributed} was the last we "
            "signed: stop serving and distributing the zone",
        )

    def _unapproved_config(self, run: RunLog) -> CycleResult | None:
        """DPS 4.2.2: no zone is signed under a configuration or policy no ``signer.config``
        ceremony approved (where ``[ceremony] required`` names it). A failed cycle, an
        incident (``tldsec serve``'s health says degraded); the last good zone stays."""
        from tldsec.ceremony.signerconfig import check_approved, required

        if not required(self.settings):
            return None  # no stage of its own where nothing is checked
        run.enter("config")
        try:
            check_approved(self.settings, self.audit, "the cycle")
        except CeremonyRefused as exc:
            log.error("INCIDENT %s; serial %s stays distributed", exc, run.distributed)
            self._record("cycle.failed", "component:cycle", stage="config", error=str(exc))
            result = run.result(Outcome.FAILED, str(exc), error=str(exc))
            self._save(result)
            return result
        return None

    def _record_quarantine(
        self, new: tuple[Quarantined, ...], released: tuple[Quarantined, ...], serial: int
    ) -> None:
        """DPS 3.5.2, 4.4.1: each object withheld from the zone, and each let go, is an
        audit entry naming it and the rules it broke (zone/quarantine.py)."""
        for q in new:
            log.error("QUARANTINED %s %s: %s", q.kind, q.name, q.message)
            self._record(
                "zone.quarantined",
                "component:builder",
                zone=self.settings.origin,
                serial=serial,
                **q.as_json(),
            )
        for q in released:
            log.info("released from quarantine: %s %s", q.kind, q.name)
            self._record(
                "zone.quarantine_released",
                "component:builder",
                zone=self.settings.origin,
                serial=serial,
                kind=q.kind,
                name=q.name,
                reason="the registry's rows pass the rules again, or are no longer published",
            )

    def _distrust_build(self, why: str, exc: ZoneError | None = None) -> None:
        """A cycle failed on the unsigned file's content: the next build reads what this
        one wrote, and the owner of the line the signer named, again from the database;
        a second failure makes it a full build."""
        path = self.paths.work / UNSIGNED_NAME
        names = []
        if isinstance(exc, ZoneSyntaxError) and exc.line and Path(exc.filename) == path:
            owner = line_owner(path, exc.line)
            if owner is not None:
                names.append(owner)
        level = distrust(path, names)
        if level:
            log.warning("%s: the next build %s", why, ("re-reads its names", "is full")[level - 1])

    def _advance(self, **fields: Any) -> None:
        state = self.state()
        CycleState(**{**asdict(state), **fields}).save(self.state_path)

    def _save(self, result: CycleResult) -> None:
        state = self.state()
        data = result.as_json()
        update: dict[str, Any] = {"last": data}
        if result.outcome is Outcome.PUBLISHED:
            update["last_published"] = data
        CycleState(**{**asdict(state), **update}).save(self.state_path)

    def _record(self, event: str, actor: str, **details: Any) -> None:
        if self.recorder is not None:
            self.recorder(event, actor=actor, **details)


def handed_over_note(tr: Transfer) -> str:
    """One line for a person: to whom the zone went and when our role ended."""
    assert tr.ended is not None
    return (
        f"handed over to {tr.operator} on {tr.ended:%Y-%m-%d %H:%M} UTC "
        "(DPS 4.6, 'tldsec keys transfer status')"
    )


def _trust_anchor(keys: KeyManager, config: SigningConfig | None, now: datetime) -> str:
    """What the parent holds for us (DS), else the KSKs' DNSKEYs: the gate's anchor.
    Unsigned (``config`` None): the DS set alone, which must be empty."""
    ds = keys.export_ds(now=now)
    if ds or config is None:
        return "".join(d.zone_line() + "\n" for d in ds)
    from tldsec.dnscore.rdata import to_text as rdata_text

    origin = keys.origin
    return "".join(
        f"{origin} {config.dnskey_ttl} IN DNSKEY {rdata_text(48, k.dnskey_rdata)}\n"
        for k in config.dnskey_signers
    )


def _fingerprint(settings: Settings, config: SigningConfig | None) -> str:
    """A digest of everything besides the registry that goes into the signed zone
    (``config`` None: published unsigned)."""
    policy = settings.policy
    if config is None:
        return unsigned_fingerprint(settings)
    material = {
        "origin": settings.origin,
        "keys": [[k.key_id, k.flags, k.publish, k.sign_dnskey, k.sign_zone] for k in config.keys],
        "nsec3": [config.nsec3_iterations, config.nsec3_salt.hex()],
        "validity": [
            int(d.total_seconds())
            for d in (
                config.validity_min,
                config.validity_max,
                config.inception_offset,
                config.refresh,
            )
        ],
        "dnskey_ttl": config.dnskey_ttl,
        "ttl": asdict(policy.ttl),
        "apex": asdict(settings.apex) if settings.apex else None,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
