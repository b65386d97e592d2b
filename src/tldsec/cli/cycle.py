"""``tldsec cycle``: run one zone cycle now (build, keys, sign, verify, distribute)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tldsec.cli.common import (
    add_home_argument,
    add_zone_argument,
    ceremony_gate,
    operator_actor,
    settings_from_args,
    zone_settings,
)
from tldsec.clock import SystemClock
from tldsec.cycle import Cycle, open_cycle
from tldsec.cycle.result import Outcome
from tldsec.errors import CycleError, ExitCode
from tldsec.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser(
        "cycle",
        help="run one zone cycle now: build, sign, verify, distribute",
        description="Build the unsigned zone from the registry, carry out the key steps "
        "that are due, sign (reusing signatures, DPS 6.5), verify (DPS 6.6) and commit "
        "the zone to the distribution store, from where the primary serves it and "
        "notifies the secondaries. Nothing is distributed unless every check passed. "
        "Without --force a cycle with nothing to do (no registry change, no key step, "
        "no signature to refresh) stops at once. A zone that loses more than a "
        "configured share of its delegations or DS RRsets (or all of them), or changes "
        "size by more than a share, is held for an operator: --accept-change ID "
        "publishes exactly that change. The last good zone stays distributed unless a "
        "new one passed. Exit status (docs/operations.md): 0 published or nothing to "
        "do, 1 a stage failed, 3 the candidate was refused by verification, 4 the change "
        "is held for an operator; with --check, 4 when a cycle is needed, 0 when not.",
    )
    add_home_argument(p)
    add_zone_argument(p)
    p.add_argument("--force", action="store_true", help="build and sign even if nothing changed")
    p.add_argument("--check", action="store_true", help="only say whether a cycle is needed")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--workers", type=int, help="signing processes (default: [cycle] workers)")
    p.add_argument(
        "--accept-change",
        metavar="ID",
        help="publish the held change ID (tldsec status shows it), audited as yours",
    )
    p.add_argument(
        "--ceremony",
        metavar="ID",
        help="the ceremony approving --accept-change, where [ceremony] requires one",
    )
    # tldsec serve's child: the Security Officer's PINs arrive as one JSON line on stdin.
    p.add_argument("--pin-stdin", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    clock = SystemClock()
    if args.check:  # a report: every zone, or --zone's
        return _check(settings_from_args(args), args.zone, clock, as_json=args.json)
    settings = zone_settings(args)  # decision 57: one zone's cycle, --zone or the only one
    accept: str | None = args.accept_change
    operator = operator_actor()
    with open_cycle(
        settings, clock, workers=args.workers, accept=accept, operator=operator
    ) as cycle:
        if accept is not None:
            _accept(settings, cycle, accept, args.ceremony)
        result = cycle.run(force=args.force or accept is not None)
    print(json.dumps(result.as_json()) if args.json else result.summary(), flush=True)
    return _exit_code(result.outcome)


def _check(home: Settings, zone: str | None, clock: SystemClock, *, as_json: bool) -> int:
    """``cycle --check``, a report: every zone of the home (or ``--zone``'s); a one-zone
    home prints as before, several one line (JSON: ``"zones"``) each. 4 when any zone
    needs a cycle."""
    reasons: dict[str, str | None] = {}
    for settings in home.selected_zones(zone):
        with open_cycle(settings, clock, keystore=False, audit=False) as cycle:
            pending = cycle.pending()
        reasons[settings.origin] = None if pending is None else pending.reason
    if len(home.zones) == 1:
        reason = next(iter(reasons.values()))
        print(json.dumps({"pending": reason}) if as_json else (reason or "nothing to do"))
    elif as_json:
        print(json.dumps({"zones": {o: {"pending": r} for o, r in reasons.items()}}))
    else:
        for origin, reason in reasons.items():
            print(f"{origin} {reason or 'nothing to do'}")
    needed = any(r is not None for r in reasons.values())
    return ExitCode.NEEDED if needed else ExitCode.OK  # for scripts and timers


def _exit_code(outcome: Outcome) -> int:
    """0 published or unchanged, 3 refused (integrity), 4 held (waits for a person)."""
    if outcome in (Outcome.PUBLISHED, Outcome.UNCHANGED):
        return ExitCode.OK
    if outcome is Outcome.REFUSED:
        return ExitCode.INTEGRITY
    return ExitCode.NEEDED if outcome is Outcome.HELD else ExitCode.FAILED


def _accept(settings: Settings, cycle: Cycle, change: str, ceremony: str | None) -> None:
    """Refuse unless ``change`` is the change held now; pass the ceremony gate."""
    held = cycle.state().held
    if held is None or held.get("id") != change:
        now = f"the change held now is {held['id']}" if held else "no change is held"
        raise CycleError(f"change {change} is not held ({now}): see 'tldsec status'")
    if cycle.audit is None:
        raise CycleError("accepting a held change needs the audit log")
    ceremony_gate(settings, "cycle.accept-change", {"change": change}, ceremony, cycle.audit)
