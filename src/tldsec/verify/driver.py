"""The one verification driver: a plan of regions, checked, reduced into one report (DPS 6.6).

A plan reads the file its way as far as its regions' apex; the driver checks the apex
once (``apexchecks``), the plan maps the region checks (``part.check_region``) over its
regions and reduces them (decisions 48, 55, 70). ``verify_zone`` tries ``sharded.in_parts``
for a file of at least ``[verify] split_bytes``, then ``whole.whole_zone``;
``verify_incremental`` runs ``incremental.edited_regions``, ``verify_insecure``
``insecure.unsigned_zone``. Nothing stops at the first failure: every check runs and
reports all it finds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from tldsec.dnscore.zone import Zone
from tldsec.dnscore.zonepatch import ZonePatch
from tldsec.hsm.base import KeyStore
from tldsec.verify import (
    chain,
    content,
    coverage,
    dnskeyset,
    incremental,
    insecure,
    nsec3chain,
    second,
    sharded,
    signatures,
    ttl,
    whole,
)
from tldsec.verify.apexchecks import ApexChecks, check_apex
from tldsec.verify.context import ZONE_FILE, Outcome, RunContext
from tldsec.verify.external import ExternalRun
from tldsec.verify.insecure import InsecureByDesign
from tldsec.verify.options import KeyOpener, VerifyOptions, VerifyRequest
from tldsec.verify.report import Report
from tldsec.verify.workers import ProgressFor, collector_paused


class Regions(Protocol):
    """A plan's regions, read as far as their apex: ``check`` runs every region's
    checks, joined with the apex's, and reduces them (None: the file turned out not to
    be readable this plan's way); ``close`` stops what still runs."""

    apex: Zone

    def check(self, found: ApexChecks) -> Outcome | None: ...

    def close(self) -> None: ...


# A plan reads the file its way: its regions, an outcome without them (the file or the
# patch is unusable), or None (it cannot read this file: try the next plan).
Plan = Callable[[RunContext], Regions | Outcome | None]

# The built-in checks in the order every report lists them; the external validators
# follow, in the order they ran.
CHECK_ORDER = (
    incremental.UNCHANGED,
    ZONE_FILE,
    insecure.MODE,
    insecure.NO_DNSSEC,
    chain.NAME,
    dnskeyset.NAME,
    signatures.NAME,
    coverage.NAME,
    nsec3chain.NAME,
    ttl.NAME,
    content.CONTENT,
    content.SERIAL,
    insecure.EXTERNAL,
    second.NAME,
)
_RANK = {name: i for i, name in enumerate(CHECK_ORDER)}


def verify_zone(
    request: VerifyRequest,
    options: VerifyOptions,
    now: datetime,
    *,
    keystore: KeyStore | None = None,
    opener: KeyOpener | None = None,
    progress: ProgressFor | None = None,
) -> Report:
    """Every check on the whole of ``request.signed`` at ``now``; never raises for a bad
    zone.

    ``keystore`` is needed only by the second-implementation check (skipped without
    it); ``opener`` lets forked workers open their own sessions on that store;
    ``progress`` hears how far the signature check (or the parts of a split zone) is.
    """
    t0 = time.perf_counter()
    run = RunContext(request, options, now, keystore, opener, progress)
    external = ExternalRun(options.external, run.invocation(), options.external_timeout)
    try:
        outcome = drive(run, _full_plans(run))
    except BaseException:
        external.abandon()
        raise
    outcome.checks.extend(external.results())
    return run.report(outcome, t0)


def verify_incremental(
    request: VerifyRequest,
    options: VerifyOptions,
    now: datetime,
    patch: ZonePatch | str,
    reason: str,
    *,
    keystore: KeyStore | None = None,
    opener: KeyOpener | None = None,
) -> Report:
    """Verify ``request.signed`` against ``request.previous`` and ``patch`` (or the reason
    the patch is unusable, which refuses the zone); never raises for a bad zone."""
    t0 = time.perf_counter()
    assert request.previous is not None
    run = RunContext(request, options, now, keystore, opener)
    outcome = drive(run, [lambda r: incremental.edited_regions(r, patch)])
    outcome.meta = {"verification": {"mode": incremental.MODE, "reason": reason}, **outcome.meta}
    return run.report(outcome, t0)


def verify_insecure(
    request: VerifyRequest, options: VerifyOptions, now: datetime, fact: InsecureByDesign | None
) -> Report:
    """Every check of an unsigned zone published by design (DPS 4.6, ``insecure``); never
    raises for a bad zone."""
    t0 = time.perf_counter()
    run = RunContext(request, options, now)
    return run.report(drive(run, [lambda r: insecure.unsigned_zone(r, fact)]), t0)


def _full_plans(run: RunContext) -> list[Plan]:
    """In parts if the file is big enough to be worth cutting, else (or if it cannot be
    cut) whole."""
    try:
        big = run.request.signed.stat().st_size >= run.options.split_bytes
    except OSError:
        big = False
    plans: list[Plan] = [sharded.in_parts] if big else []
    plans.append(whole.whole_zone)
    return plans


def drive(run: RunContext, plans: Sequence[Plan]) -> Outcome:
    """The first plan that can read the file, its apex checked once, its regions' checks
    run and reduced; the checks in report order."""
    with collector_paused():
        for plan in plans:
            started = plan(run)
            if started is None:
                continue
            if isinstance(started, Outcome):
                outcome: Outcome | None = started
            else:
                try:
                    outcome = started.check(check_apex(run, started.apex))
                finally:
                    started.close()
            if outcome is not None:
                outcome.checks.sort(key=lambda c: _RANK.get(c.name, len(_RANK)))
                return outcome
    raise AssertionError("the last plan of a run always reads the file")
