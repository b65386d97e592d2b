"""``tldsec status``: the zone serial, the last cycle, the key plan's next event, the
earliest signature expiry, the last verification report, the publication lease (who
holds it, its token and expiry, whether this signer does) and the HSM (locked or active,
as the running ``tldsec serve`` says over its activation socket), for people or as JSON.
It never opens the HSM.

Its exit code says whether anything is wrong, for monitoring and scripts
(docs/operations.md): 3 (integrity) while a refused zone's incident is open, 1
(degraded) when the last cycle failed, signatures expire within the policy's safety
margin (DPS 3.5.2) or the audit log cannot be read, 4 (waiting) while a change is held
for an operator; else 0."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from tldsec.audit.retention import describe
from tldsec.audit.status import audit_status
from tldsec.ceremony.status import ceremony_status, status_lines
from tldsec.cli.common import add_home_argument, settings_from_args
from tldsec.clock import Clock, SystemClock, from_epoch
from tldsec.cycle import CycleState, open_cycle
from tldsec.cycle.state import UNSIGNED_NAME, zone_paths
from tldsec.errors import ExitCode
from tldsec.keys.planner import Action, Plan
from tldsec.keys.transfer import Transfer, TransferStep
from tldsec.keys.transfer_service import TransferManager
from tldsec.policy_check import dps_findings
from tldsec.settings import Settings
from tldsec.zone.buildinfo import BuildInfo
from tldsec.zone.quarantine import Quarantined


def register(sub: Any) -> None:
    p = sub.add_parser(
        "status",
        help="the zone serial, last cycle, next key event, signature expiry, last verification",
    )
    add_home_argument(p)
    p.add_argument(
        "--zone", metavar="ORIGIN", help="only this zone (default: every zone of the home)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run)


# The exit code of a home of several zones: its worst zone's, in this order.
WORST_FIRST = (ExitCode.INTEGRITY, ExitCode.FAILED, ExitCode.NEEDED, ExitCode.OK)


def run(args: argparse.Namespace) -> int:
    """A report (decision 57, "CLI --zone conventions"): a home of one zone prints as
    before; of several, the installation's parts once (``== installation ==``), then
    one ``== origin ==`` section per zone (``--zone``: that one) with only that zone's
    facts, and JSON ``{AUDIT...: ..., "health": ..., "zones": {origin: report}, "exit":
    ...}`` (decision 75); the exit code is the worst of the installation's and zones'."""
    home = settings_from_args(args)
    clock = SystemClock()
    if len(home.zones) == 1:
        report = status(home.one_zone(args.zone), clock)
        print(json.dumps(report, indent=2) if args.json else text(report))
        return int(ExitCode[report["health"]["exit"]])
    now = clock.now()
    selected = home.selected_zones(args.zone)
    installation = installation_status(home, clock, now)
    serve = installation["serve"] or {}
    reports = {}
    for zone in selected:
        report = zone_status(zone, clock, now)
        # serve's faults of this zone (decision 67), without its origin
        its = ((serve.get("zones") or {}).get(zone.origin) or {}).get("faults", [])
        report["health"] = health(report, zone, now, serve_faults=its, installation=False)
        reports[zone.origin] = report
    origins = tuple(f"{o}: " for o in home.zones)
    mine = [f for f in serve.get("faults", []) if not f.startswith(origins)]
    installation["health"] = health(installation, home, now, serve_faults=mine, zone=False)
    codes = [ExitCode[r["health"]["exit"]] for r in (installation, *reports.values())]
    worst = min(codes, key=WORST_FIRST.index)
    if args.json:
        print(json.dumps({**installation, "zones": reports, "exit": worst.name}, indent=2))
    else:
        sections = [f"== installation ==\n{installation_text(installation)}"]
        sections += [f"== {origin} ==\n{text(r)}" for origin, r in reports.items()]
        print("\n\n".join(sections))
    return int(worst)


def health(
    report: dict[str, Any],
    settings: Settings,
    now: datetime,
    *,
    serve_faults: list[str] | None = None,
    zone: bool = True,
    installation: bool = True,
) -> dict[str, Any]:
    """What is wrong, worst first: ``state`` ok, degraded or integrity, and the exit
    code name that goes with it. A home of several zones asks it of the zone's facts
    alone (``installation=False``) and of the installation's alone (``zone=False``),
    with serve's faults of each (``serve_faults``; default: all of serve's)."""
    integrity: list[str] = []
    degraded: list[str] = []
    waiting: list[str] = []
    if zone:
        _zone_problems(report, settings, now, integrity, degraded)
    if installation:
        audit = report["audit"]
        if not audit.get("initialized"):
            degraded.append("audit log: " + "; ".join(audit.get("warnings", [])))
    if serve_faults is None:
        serve_faults = (report.get("serve") or {}).get("faults", [])
    degraded.extend(f"tldsec serve: {fault}" for fault in serve_faults)
    if installation and (report.get("hsm") or {}).get("state") == "locked":
        waiting.append("the HSM is locked: nothing is signed until 'tldsec hsm activate'")
    if zone:
        _zone_waiting(report, waiting)
    if integrity:
        state, code = "integrity", ExitCode.INTEGRITY
    elif degraded:
        state, code = "degraded", ExitCode.FAILED
    elif waiting:
        state, code = "waiting", ExitCode.NEEDED
    else:
        state, code = "ok", ExitCode.OK
    return {"state": state, "exit": code.name, "problems": integrity + degraded + waiting}


def _zone_problems(
    report: dict[str, Any],
    settings: Settings,
    now: datetime,
    integrity: list[str],
    degraded: list[str],
) -> None:
    """A zone's integrity and degraded problems (its incident, cycle, signatures)."""
    incident = report["incident"]
    if incident and not incident["resolved"] and incident.get("kind") != "held":
        what = incident.get("kind") or "verification"
        integrity.append(f"serial {incident['serial']}: {what} incident open")
    last = report["last_cycle"]
    if last and last.get("outcome") == "failed":
        degraded.append(f"the last cycle failed at {last.get('stage')}: {last.get('error')}")
    expiry = report["earliest_signature_expiry"]
    margin = settings.policy.cycle.safety_margin
    # Handed over to another operator, our role ended (DPS 4.6): our last zone's
    # signatures expire as they must; the zone is theirs to sign, nothing to fix here.
    handed_over = (report.get("transfer") or {}).get("ended") is not None
    if expiry is not None and not handed_over and datetime.fromisoformat(expiry) <= now + margin:
        degraded.append(f"signatures expire at {expiry}, within the safety margin ({margin})")


def _zone_waiting(report: dict[str, Any], waiting: list[str]) -> None:
    """What a zone waits for a person for (going insecure, a held change)."""
    insecure = report.get("going_insecure")
    if insecure and not insecure.get("unsigned_since"):
        waiting.append(
            f"the zone is going insecure since {insecure['since']} (DPS 4.6): the stop of "
            f"signing waits for {insecure['description']} ('tldsec keys go-insecure --cancel' "
            "returns to normal)"
        )
    held = report.get("held")
    if held:
        waiting.append(
            f"change {held.get('id')} held for an operator (tldsec cycle --accept-change)"
        )


def status(settings: Settings, clock: Clock) -> dict[str, Any]:
    """Everything ``tldsec status`` shows of a home of one zone, read without opening
    the HSM: the zone's facts and the installation's, in one report."""
    now = clock.now()
    zone = zone_status(settings, clock, now)
    installation = installation_status(settings, clock, now)
    report = {key: zone[key] if key in zone else installation[key] for key in ONE_ZONE_ORDER}
    report["health"] = health(report, settings, now)
    return report


# The keys of a one-zone home's report, in the order they always had.
ONE_ZONE_ORDER = (
    "zone", "serial", "store", "zone_file", "pending", "last_cycle", "last_published",
    "incident", "quarantined", "held", "next_key_event", "going_insecure", "transfer",
    "key_gates", "earliest_signature_expiry", "signatures_refresh_at",
    "last_verification", "audit", "ceremonies", "policy", "hsm", "serve", "lease",
    "replicas", "notices", "now",
)  # fmt: skip


def installation_status(home: Settings, clock: Clock, now: datetime) -> dict[str, Any]:
    """The installation's parts: its audit log, ceremonies, HSM, running serve and
    e-mail outbox (the HSM's policy warnings over every zone's policy; the audit log's
    retention the longest of every zone's policy, decision 79)."""
    return {
        "audit": audit_status(home, clock),
        "ceremonies": ceremony_status(home, clock),
        "hsm": hsm_status(home),
        "serve": serve_status(home),
        "notices": notice_status(home),
        "now": now.isoformat(),
    }


def zone_status(settings: Settings, clock: Clock, now: datetime) -> dict[str, Any]:
    """One zone's facts (``settings`` narrowed to it), without the installation's."""
    with open_cycle(settings, clock, keystore=False, audit=False) as cycle:
        state = cycle.state()
        serial = cycle.store.current()
        transfer = TransferManager(cycle.keys)
        handover = transfer.current()
        pending = cycle.pending(now)  # None once handed over: nothing is ours to sign
        plan = cycle.keys.plan(now)
        transfer_steps = transfer.status(now) if handover is not None else []
        insecure = cycle.keys.going_insecure()
        unsigned = cycle.keys.unsigned_since()
        store_dir = cycle.store.directory
    timed = [s for s in plan.steps if s.due is not None]
    gates = [s for s in plan.steps if s.due is None]
    report_path = zone_paths(settings).last_report
    verification: dict[str, Any] | None = None
    if report_path.exists():
        data = json.loads(report_path.read_text("utf-8"))
        verification = {
            "serial": data.get("serial"),
            "passed": data.get("passed"),
            "verified_at": data.get("verified_at"),
            "failed_checks": [c["name"] for c in data.get("checks", []) if not c["passed"]],
            "file": str(report_path),
        }
    report = {
        "zone": settings.origin,
        "serial": serial,
        "store": str(store_dir),
        "zone_file": str(store_dir / f"{serial}.zone") if serial is not None else None,
        "pending": None if pending is None else pending.reason,
        "last_cycle": state.last,
        "last_published": state.last_published,
        "incident": _open_incident(state),
        "quarantined": [q.as_json() for q in _quarantine(settings)],
        "held": state.held,
        "next_key_event": None
        if not timed
        else {
            "action": timed[0].describe(),
            "due": timed[0].due.isoformat() if timed[0].due else None,
            "waiting_for": timed[0].waiting_for.description,
        },
        "going_insecure": _going_insecure(insecure, plan, unsigned),
        "transfer": _transfer(handover, transfer_steps),
        "key_gates": [
            {"action": s.describe(), "waiting_for": s.waiting_for.description} for s in gates
        ],
        "earliest_signature_expiry": _iso(state.earliest_expiry),
        "signatures_refresh_at": _iso(state.resign_at),
        "last_verification": verification,
        "policy": {
            "name": settings.policy.name,
            "file": settings.policy.source,
            # a policy named otherwise than "dps" may deviate from the DPS: say where
            "dps_deviations": [str(f) for f in dps_findings(settings.policy)],
        },
        "lease": lease_status(settings),
        "replicas": replica_status(settings),
    }
    return report


def _going_insecure(
    insecure: tuple[datetime, str] | None, plan: Plan, unsigned: datetime | None = None
) -> dict[str, Any] | None:
    """Where going insecure (DPS 4.6, keys/go_insecure.py) stands: since when, why, what
    the stop of signing waits for, and since when the zone is unsigned (its last step)."""
    if insecure is None:
        return None
    since, reason = insecure
    last = next((s for s in plan.steps if s.action is Action.UNSIGN), None)
    return {
        "since": since.isoformat(),
        "reason": reason,
        "unsigned_since": None if unsigned is None else unsigned.isoformat(),
        "waiting_for": None if last is None else last.waiting_for.name,
        "description": None if last is None else last.waiting_for.description,
        "due": None if last is None or last.due is None else last.due.isoformat(),
    }


def _transfer(tr: Transfer | None, steps: list[TransferStep]) -> dict[str, Any] | None:
    """Where handing the zone to another operator stands (DPS 4.6, keys/transfer.py)."""
    if tr is None:
        return None
    nxt = next((s for s in steps if s.done is None and s.command != "wait"), None)
    return {
        "operator": tr.operator,
        "started": tr.started.isoformat(),
        "handed_over": None if tr.handed_over is None else tr.handed_over.isoformat(),
        "ended": None if tr.ended is None else tr.ended.isoformat(),
        "next": None if nxt is None else nxt.as_json(),
    }


def _quarantine(settings: Settings) -> tuple[Quarantined, ...]:
    """The registry objects the last build withheld (docs/registry.md, "Fault isolation")."""
    info = BuildInfo.load(zone_paths(settings).work / UNSIGNED_NAME)
    return () if info is None else info.quarantine


def replica_status(settings: Settings) -> dict[str, Any] | None:
    """The last replica proof (``cycle/replicas.py``; None without [[keystore.replica]])."""
    from tldsec.cycle.replicas import summary

    return summary(settings)


def notice_status(settings: Settings) -> dict[str, Any] | None:
    """The e-mail outbox (docs/publication.md): messages waiting, sent, given up."""
    from tldsec.notify.outbox import counts
    from tldsec.notify.run import spool_root

    found = counts(spool_root(settings))
    if found is None:
        return None
    return {**found, "smtp_host": settings.config.notify.smtp_host or None}


def lease_status(settings: Settings) -> dict[str, Any]:
    """The publication lease (decision 49) as the registry database holds it: holder,
    fencing token, expiry on the database's clock, and whether this home's signer
    (``[lease] name``, else ``HOSTNAME:HOME``) holds it. Read only; a database that
    does not answer is an ``error``, not a failed status."""
    from sqlalchemy.exc import SQLAlchemyError

    from tldsec.cycle.lease import PublicationLease, default_holder
    from tldsec.db.base import make_engine

    me = settings.config.lease.name or default_holder(settings.home)
    out: dict[str, Any] = {"me": me}
    engine = make_engine(settings.registry_db_url)
    try:
        row = PublicationLease(engine, me, origin=settings.origin).read()
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        out["error"] = " ".join(str(orig if orig is not None else exc).split())
        return out
    finally:
        engine.dispose()
    out.update(
        holder=row.holder or None,
        token=row.token,
        expires=None if not row.holder else from_epoch(row.expires_ms // 1000).isoformat(),
        live=row.live,
        held_by_me=row.live and row.holder == me,
    )
    return out


def serve_status(settings: Settings) -> dict[str, Any] | None:
    """What the running ``tldsec serve`` of this home says is wrong (its /health
    faults), over its control socket; None when no serve runs here."""
    from tldsec.errors import KeyStoreError
    from tldsec.service.activation import request, socket_path

    if not socket_path(settings.home).exists():
        return None
    try:
        answer = request(settings.home, {"op": "status"}, timeout=5)
    except (KeyStoreError, OSError):
        return None
    serve = answer.get("serve")
    return serve if isinstance(serve, dict) else None


def hsm_status(settings: Settings) -> dict[str, Any]:
    """The key store as the policy and the running service see it (no HSM is opened)."""
    from tldsec.errors import KeyStoreError
    from tldsec.service.activation import request

    ks = settings.keystore
    names = [p.name for p in settings.zones_policies()]  # one in a home of one zone
    out: dict[str, Any] = {
        "policy": ", ".join(names),
        "backend": ks.backend,
        "warnings": [],
    }
    if ks.backend != "pkcs11":
        out["state"] = "keys on disk"
        out["warnings"].append(
            f"keys are on disk in {ks.directory}, not in an HSM: DPS 5.2 does not hold "
            f"(policy {', '.join(repr(n) for n in names)}; for tests and demos only)"
        )
        return out
    for name in names:
        if name == "dps":
            continue
        out["warnings"].append(
            f"policy {name!r} is not the production policy: the home may "
            "store the HSM PIN (DPS 4.2.4 does not hold)"
        )
    try:
        answer = request(settings.home, {"op": "status"}, timeout=5)
    except (KeyStoreError, OSError) as exc:
        out["state"] = "serve not running"
        out["detail"] = str(exc)
        return out
    out.update(answer.get("hsm", {}))
    return out


def _open_incident(state: CycleState) -> dict[str, Any] | None:
    """The last refusal, unless a later serial was published since."""
    incident = state.incident
    if incident is None:
        return None
    published = (state.last_published or {}).get("started")
    if published is not None and published > incident.get("at", ""):
        return {**incident, "resolved": True}
    return {**incident, "resolved": False}


def _iso(epoch: int | None) -> str | None:
    return None if epoch is None else from_epoch(epoch).isoformat()


def text(r: dict[str, Any]) -> str:
    lines = [f"zone {r['zone']}  serial {r['serial']}  ({r['zone_file'] or 'nothing distributed'})"]
    last = r["last_cycle"]
    if last:
        timings = ", ".join(f"{k} {v:.2f} s" for k, v in last.get("timings", {}).items())
        lines.append(
            f"last cycle      {last['outcome']} at {_short(last['started'])} in "
            f"{last['seconds']:.2f} s ({last['reason']})"
            + (f"\n                {timings}" if timings else "")
        )
        if last.get("error"):
            lines.append(f"                error at {last.get('stage')}: {last['error']}")
    published = r["last_published"]
    if published and published is not last:
        lines.append(
            f"last published  serial {published['serial']} at {_short(published['started'])}"
        )
    lines.append(f"pending         {r['pending'] or 'nothing to do'}")
    held = r.get("held")
    if held:
        lines.append(
            f"HELD            change {held['id']}: {'; '.join(held['reasons'])}; publish it only "
            f"if meant: tldsec cycle --accept-change {held['id']}"
        )
    incident = r["incident"]
    if incident:
        state = "resolved since" if incident["resolved"] else "OPEN"
        if incident.get("message"):
            lines.append(
                f"incident        {state}: {incident.get('kind', 'incident')} at "
                f"{_short(incident['at'])}: {incident['message']}"
            )
        else:
            lines.append(
                f"incident        {state}: serial {incident['serial']} refused at "
                f"{_short(incident['at'])} ({', '.join(incident['failed_checks'])}); "
                f"candidate {incident['candidate']}"
            )
    withheld = r["quarantined"]
    if withheld:
        names = ", ".join(
            f"{q['kind']} {q['name']} ({', '.join(q['rules'])})" for q in withheld[:5]
        )
        more = f" and {len(withheld) - 5} more" if len(withheld) > 5 else ""
        lines.append(
            f"quarantined     {len(withheld)} withheld from the zone: {names}{more} "
            "(tldsec zone quarantine list)"
        )
    event = r["next_key_event"]
    lines.append(
        "next key event  "
        + (
            f"{event['action']} at {_short(event['due'])} ({event['waiting_for']})"
            if event
            else "none planned"
        )
    )
    insecure = r.get("going_insecure")
    if insecure and insecure.get("unsigned_since"):
        lines.append(
            f"UNSIGNED        since {_short(insecure['unsigned_since'])}: going insecure (DPS "
            f"4.6) since {_short(insecure['since'])} ({insecure['reason']}) is complete; "
            "signing again is a fresh start (new KSK and ZSK, a new DS)"
        )
    elif insecure:
        lines.append(
            f"GOING INSECURE  since {_short(insecure['since'])} ({insecure['reason']}): stop "
            f"of signing waits for {insecure['waiting_for']}: {insecure['description']}"
        )
    handover = r.get("transfer")
    if handover and handover.get("ended"):
        lines.append(
            f"HANDED OVER     to {handover['operator']} ({_short(handover['handed_over'])}); our "
            f"role ended {_short(handover['ended'])}: stop serving and distributing the zone"
        )
    elif handover:
        step = handover.get("next") or {}
        lines.append(
            f"TRANSFER        to {handover['operator']} since {_short(handover['started'])}: "
            f"next {step.get('step')} (due {_short(step.get('due'))}): {step.get('description')}"
        )
    for gate in r["key_gates"]:
        lines.append(f"key gate        {gate['action']}: waiting for {gate['waiting_for']}")
    lines.append(
        f"signatures      earliest expiry {_short(r['earliest_signature_expiry'])}, "
        f"refresh from {_short(r['signatures_refresh_at'])}"
    )
    policy = r["policy"]
    deviations = policy["dps_deviations"]
    lines.append(
        f"policy          {policy['name']!r} ({policy['file']}): "
        + (
            f"DEVIATES from the DPS in {len(deviations)} value(s)"
            if deviations
            else "every DPS number as the DPS says"
        )
    )
    lines.extend(f"                {d}" for d in deviations)
    replicas = r.get("replicas")
    if replicas is not None:
        if replicas["checked_at"] is None:
            lines.append("replicas        never proven: 'tldsec hsm check' or the next cycle")
        else:
            verdict = (
                f"{len(replicas['incidents'])} INCIDENT(S)"
                if replicas["incidents"]
                else "every key proven on every HSM"
            )
            lines.append(
                f"replicas        {verdict} ({', '.join(replicas['hsms'])}; checked "
                f"{_short(replicas['checked_at'])})"
            )
        lines.extend(f"INCIDENT        {line}" for line in replicas["incidents"])
        lines.extend(f"waiting         {line}" for line in replicas["waiting"])
    lines.extend(_lease_lines(r.get("lease")))
    lines.extend(_hsm_lines(r.get("hsm")))
    lines.extend(_notice_lines(r.get("notices")))
    v = r["last_verification"]
    if v:
        verdict = "passed" if v["passed"] else f"FAILED ({', '.join(v['failed_checks'])})"
        lines.append(
            f"verification    serial {v['serial']} {verdict} at {v['verified_at']} ({v['file']})"
        )
    if "audit" in r:  # a home of one zone: the installation's parts in its report
        lines.extend(_audit_lines(r["audit"]))
        lines.extend(status_lines(r["ceremonies"]))
    lines.extend(_health_lines(r["health"]))
    return "\n".join(lines)


def installation_text(r: dict[str, Any]) -> str:
    """The installation's section of a home of several zones (decision 75)."""
    lines = [*_hsm_lines(r["hsm"]), *_notice_lines(r["notices"])]
    serve = r.get("serve")
    lines.append(f"serve           {'running' if serve is not None else 'not running here'}")
    lines.extend(_audit_lines(r["audit"]))
    lines.extend(status_lines(r["ceremonies"]))
    lines.extend(_health_lines(r["health"]))
    return "\n".join(lines)


def _health_lines(h: dict[str, Any]) -> list[str]:
    lines = [f"health          {h['state'].upper() if h['problems'] else 'ok'}"]
    lines.extend(f"                {p}" for p in h["problems"])
    return lines


def _hsm_lines(hsm: dict[str, Any] | None) -> list[str]:
    lines: list[str] = []
    if hsm:
        tokens = ", ".join(f"{t['name']} '{t['label']}'" for t in hsm.get("tokens", []))
        since = f" since {_short(hsm['since'])} by {hsm.get('by')}" if hsm.get("since") else ""
        lines.append(
            f"HSM             {hsm['state'].upper() if hsm['state'] == 'locked' else hsm['state']}"
            f"{since} (policy {hsm['policy']}{', ' + tokens if tokens else ''})"
        )
        if hsm["state"] == "locked":
            lines.append(
                "                nothing is signed until the Security Officer runs "
                "'tldsec hsm activate'; the last good zone stays served"
            )
        for warning in hsm.get("warnings", []):
            lines.append(f"WARNING         {warning}")
    return lines


def _notice_lines(notices: dict[str, Any] | None) -> list[str]:
    if notices is None:
        return []
    given_up = f"{notices['failed']} GIVEN UP, " if notices["failed"] else ""
    server = "" if notices["smtp_host"] else " (no [notify] smtp_host: none is sent)"
    return [
        f"notices         {given_up}{notices['outbox']} waiting, {notices['sent']} sent"
        f"{server} (tldsec notify list)"
    ]


def _lease_lines(lease: dict[str, Any] | None) -> list[str]:
    if lease is None:
        return []
    if lease.get("error"):
        return [f"lease           cannot be read from the registry database: {lease['error']}"]
    if lease["holder"] is None:
        return [f"lease           never taken (this signer would take it as {lease['me']!r})"]
    if lease["held_by_me"]:
        who = "held by THIS signer"
    elif lease["live"]:
        who = "held by another signer"
    else:
        who = "EXPIRED: no signer publishes until one takes it"
    return [
        f"lease           {who}: {lease['holder']!r}, token {lease['token']}, "
        f"expires {_short(lease['expires'])}"
        + ("" if lease["held_by_me"] else f" (this signer: {lease['me']!r})")
    ]


def _audit_lines(a: dict[str, Any]) -> list[str]:
    lines = []
    if a.get("initialized"):
        due = a["next_maintenance"]
        lines.append(
            f"audit log       {a['head']} entries, signed up to {a['checkpoint']}; "
            f"anchors: {', '.join(a['anchors']) or 'none'}"
        )
        kept = a["retention"]
        lines.append(
            "audit retention "
            + describe(
                kept["online_days"],
                kept["archive_days"],
                kept["online_set_by"],
                kept["archive_set_by"],
            )
        )
        lines.append(
            f"audit retention next archive+purge {_short(due['archive_and_purge'])}, "
            f"expired archives deleted from {_short(due['delete_expired_archives'])}"
        )
    lines.extend(f"audit WARNING   {w}" for w in a.get("warnings", []))
    return lines


def _short(iso: str | None) -> str:
    if iso is None:
        return "-"
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%SZ")
