"""The one verification driver: a plan of regions, checked, reduced into one report (DPS 6.6).

Every run is a plan fed to ``drive``. A plan reads regions of the signed file (whole
subtrees one label below the apex, plus the apex) as far as their apex; the driver
checks the apex once (``apexchecks``), then the plan maps the one list of region checks
(``part.check_region``) over its regions (on the worker pool where that pays) and
reduces what they found with the apex's (``part.region_checks``). A plan may decline a
file (None: the driver tries the next plan) or end early with an ``Outcome`` (the file
or the patch unusable):

* ``sharded.in_parts``: a big file the signer wrote, cut into parts, each checked in a
  worker process (``part.check_part``) and reduced in this one;
* ``whole.whole_zone``: the zone as one region read into this process (a small zone, or
  any file that cannot be cut), its RRSIGs on every core;
* ``incremental.edited_regions``: the unchanged bytes proved equal to the previous
  verified file, then only the edited regions read again as one region, with a scan of
  the whole file for the NSEC3 chain and the earliest expiration.

``verify_zone`` (the full verification) tries ``in_parts`` for a file of at least
``[verify] split_bytes``, then ``whole_zone``; ``verify_incremental`` runs
``edited_regions``; ``verify_insecure`` runs ``insecure.unsigned_zone`` (an unsigned
zone published by design, DPS 4.6). The driver owns what every run shares: the ``RunContext``, the
cycle collector paused, the external validators of a full run (started first, collected
last), the order of the checks in the report (``CHECK_ORDER``) and the report itself.
Nothing stops at the first failure: every check runs and reports all it finds.
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
from tldsec.verify.external import ExternalRun, Invocation
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
    external = ExternalRun(
        options.external,
        Invocation(
            zone_file=request.signed,
            origin=run.origin,
            anchor_file=request.trust_anchor,
            now=run.now_s,
            horizon_seconds=run.horizon_s - run.now_s,
        ),
        options.external_timeout,
    )
    try:
        outcome = drive(run, _full_plans(run))
    except BaseException:
        external.abandon()
        raise
    outcome.checks.extend(external.results())
    return report(run, outcome, t0)


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
    return report(run, outcome, t0)


def verify_insecure(
    request: VerifyRequest, options: VerifyOptions, now: datetime, fact: InsecureByDesign | None
) -> Report:
    """Every check of an unsigned zone published by design (DPS 4.6, ``insecure``); never
    raises for a bad zone."""
    t0 = time.perf_counter()
    run = RunContext(request, options, now)
    return report(run, drive(run, [lambda r: insecure.unsigned_zone(r, fact)]), t0)


def _full_plans(run: RunContext) -> list[Plan]:
    """In parts if the file is big enough to be worth cutting, else (or if it cannot be
    cut) whole."""
    try:
        big = run.request.signed.stat().st_size >= run.options.split_bytes
    except OSError:
        big = False
    plans: list[Plan] = [lambda r: sharded.in_parts(r, r.options.part_bytes)] if big else []
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


def report(run: RunContext, outcome: Outcome, started: float) -> Report:
    """The run's report; ``started`` is its ``time.perf_counter()`` at the start."""
    return run.report(outcome.checks, outcome.serial, outcome.meta, started)
