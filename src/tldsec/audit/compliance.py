"""The compliance audit report of DPS 7, built from the audit log of a period (pure).

An auditor with no tldsec knowledge reads, for the period: whether the log verified and
against which anchors; every key event against the DPS 6.4 schedule; every ceremony with
its participants; incidents and how they closed; the verification gate's results; the
signature-expiry margin; registrars' DS activity; access failures; retention. Each part
is a ``Section`` of plain rows; ``compliance_html`` renders them. A report of several
zones has the key schedule and signature-expiry parts once per zone (decision 83).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from tldsec.audit.entry import Entry, format_time
from tldsec.audit.maintenance import Schedule
from tldsec.audit.retention import AuditRetention
from tldsec.audit.verification import DatabaseVerification
from tldsec.policy import Policy

OK, ATTENTION, INFO = "ok", "attention", "info"
SCHEDULE_TOLERANCE = timedelta(days=1)  # a key event within a day of its plan is on time
INCIDENT_EVENTS = (
    "zone.verification_failed",
    "zone.publish_failed",
    "cycle.failed",
    "signer.run_failed",
    "system.crash",
    "system.hardware_failure",
    "hsm.failure",
    "key.emergency_rollover",
    "audit.verification_failed",
    "clock.backwards",
    "clock.unsynchronised",
)


@dataclass(frozen=True, slots=True)
class Section:
    """One part of the report: a verdict, a sentence, and a table."""

    key: str
    title: str
    dps: str
    status: str  # ok, attention, info
    summary: str
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class ComplianceReport:
    zone: str
    start: datetime
    end: datetime
    generated: datetime
    entries: int
    sections: tuple[Section, ...] = field(default_factory=tuple)


def _t(when: datetime | None) -> str:
    return "-" if when is None else f"{when:%Y-%m-%d %H:%M}Z"


def build_report(
    entries: Iterable[Entry],
    *,
    zone: str,
    start: datetime,
    end: datetime,
    generated: datetime,
    policies: Sequence[tuple[str, Policy]],
    verification: DatabaseVerification,
    schedule: Schedule | None,
    retention: AuditRetention,
) -> ComplianceReport:
    """The report for ``start <= time < end``. ``entries`` may begin earlier: key
    activations before the period give the first planned date inside it. ``policies``
    are the zones the report covers, each with its policy: one zone's key schedule and
    signature expiry parts read every entry given; several zones' are one part per zone,
    each over the entries naming that zone or none (decision 83). ``retention`` is the
    home's audit log's (decision 79)."""
    before: list[Entry] = []
    period: list[Entry] = []
    for e in entries:
        if e.time < start:
            if e.event == "key.activated":
                before.append(e)
        elif e.time < end:
            period.append(e)
    keys: tuple[Section, ...]
    expiry: tuple[Section, ...]
    if len(policies) == 1:
        ((_, policy),) = policies
        keys = (_key_schedule(before, period, policy),)
        expiry = (_expiry(period, policy),)
    else:
        keys = tuple(
            _of_zone(_key_schedule(_naming(before, o), _naming(period, o), p), o)
            for o, p in policies
        )
        expiry = tuple(_of_zone(_expiry(_naming(period, o), p), o) for o, p in policies)
    sections = (
        _integrity(verification, period),
        *keys,
        _ceremonies(period),
        _incidents(period),
        _gate(period),
        *expiry,
        _ds_activity(period),
        _access(period),
        _retention(verification, schedule, retention),
    )
    return ComplianceReport(zone, start, end, generated, len(period), sections)


def _naming(entries: Sequence[Entry], origin: str) -> list[Entry]:
    """The entries of ``origin`` and those naming no zone (as ``--zone`` reads them)."""
    return [e for e in entries if e.zone in (origin, None)]


def _of_zone(section: Section, origin: str) -> Section:
    """One zone's part of a report of several zones: its title and verdict name it."""
    return replace(
        section,
        key=f"{section.key}-{origin.rstrip('.') or 'root'}",
        title=f"{section.title}: {origin}",
        summary=f"{origin}: {section.summary}",
    )


def _integrity(v: DatabaseVerification, period: Sequence[Entry]) -> Section:
    r = v.report
    rows = [("chain", f"{r.entries} entries checked, seq {r.first_seq}-{r.last_seq}")]
    rows.append(("signatures", f"{r.checkpoints_valid} of {r.checkpoints_total} checkpoints valid"))
    rows += [("anchor read", a) for a in v.anchors_checked]
    rows += [("anchor not read", a) for a in v.anchors_unreachable]
    rows += [("finding", str(f)) for f in r.findings]
    if not r.ok:
        status, summary = ATTENTION, f"the audit log does NOT verify: {r.findings[0]}"
    elif not v.anchors_checked:
        status = ATTENTION
        summary = "the log verifies, but no anchor outside the database was read"
    else:
        status = OK
        summary = (
            f"the whole audit log verifies ({len(period)} entries in the period), "
            f"against {len(v.anchors_checked)} anchor(s) outside the database"
        )
    return Section(
        "integrity",
        "Audit log integrity",
        "DPS 4.4.4, 4.4.5",
        status,
        summary,
        ("what", "result"),
        tuple(rows),
    )


def _key_schedule(before: Sequence[Entry], period: Sequence[Entry], policy: Policy) -> Section:
    lifetimes = {"KSK": policy.ksk.lifetime, "ZSK": policy.zsk.lifetime}
    last: dict[str, datetime] = {}
    for e in before:
        last[str(e.details.get("role", "")).upper()] = e.time
    rows: list[tuple[str, ...]] = []
    flagged = 0
    for e in period:
        if not e.event.startswith("key."):
            continue
        role = str(e.details.get("role", "")).upper()
        planned = deviation = verdict = "-"
        if e.event == "key.activated" and role in lifetimes:
            previous = last.get(role)
            if previous is not None:
                due = previous + lifetimes[role]
                planned = _t(due)
                off = e.time - due
                deviation = f"{off.total_seconds() / 86400:+.1f} days"
                if off > SCHEDULE_TOLERANCE:
                    verdict, flagged = "LATE", flagged + 1
                elif off < -SCHEDULE_TOLERANCE:
                    verdict, flagged = "EARLY", flagged + 1
                else:
                    verdict = "on time"
            else:
                verdict = "first of its role"
            last[role] = e.time
        elif e.event == "key.emergency_rollover":
            verdict, flagged = "EMERGENCY", flagged + 1
        rows.append(
            (
                _t(e.time),
                e.event,
                str(e.details.get("key_id", "-")),
                role or "-",
                planned,
                deviation,
                verdict,
            )
        )
    summary = (
        f"{len(rows)} key events; {flagged} off the DPS 6.4 schedule "
        f"(ZSK every {policy.zsk.lifetime.days} days, KSK every {policy.ksk.lifetime.days} days)"
    )
    return Section(
        "keys",
        "Key events against the schedule",
        "DPS 6.4",
        ATTENTION if flagged else (OK if rows else INFO),
        summary,
        ("time", "event", "key", "role", "planned", "deviation", "verdict"),
        tuple(rows),
    )


def _ceremonies(period: Sequence[Entry]) -> Section:
    found: dict[str, dict[str, object]] = {}
    for e in period:
        if not e.event.startswith("ceremony."):
            continue
        cid = str(e.details.get("ceremony", "-"))
        c = found.setdefault(
            cid,
            {"operation": "-", "started": None, "approvals": [], "outcome": "open", "by": e.actor},
        )
        if e.event == "ceremony.started":
            c["operation"], c["started"] = e.details.get("operation", "-"), e.time
        elif e.event == "ceremony.approved":
            approvals = c["approvals"]
            assert isinstance(approvals, list)
            approvals.append(f"{e.details.get('person')} ({e.details.get('role')})")
        elif e.event == "ceremony.completed":
            c["outcome"] = (
                f"completed {_t(e.time)}: quorum {', '.join(map(str, e.details.get('people', [])))}"
            )
            c["operation"] = e.details.get("operation", c["operation"])
        elif e.event == "ceremony.aborted":
            c["outcome"] = f"ABORTED {_t(e.time)}: {e.details.get('reason', '')}"
    rows = tuple(
        (
            cid,
            str(c["operation"]),
            _t(c["started"]) if isinstance(c["started"], datetime) else "-",
            ", ".join(map(str, c["approvals"])) if isinstance(c["approvals"], list) else "-",
            str(c["outcome"]),
        )
        for cid, c in found.items()
    )
    aborted = sum(1 for r in rows if r[4].startswith("ABORTED"))
    return Section(
        "ceremonies",
        "Key ceremonies",
        "DPS 5.1, 5.2.2",
        ATTENTION if aborted else INFO,
        f"{len(rows)} ceremonies; {aborted} aborted",
        ("ceremony", "operation", "started", "approved by", "outcome"),
        rows,
    )


def _incidents(period: Sequence[Entry]) -> Section:
    rows: list[tuple[str, ...]] = []
    open_count = 0
    for i, e in enumerate(period):
        if e.event not in INCIDENT_EVENTS:
            continue
        closed = next(
            (
                f"zone serial {x.details.get('serial')} published {_t(x.time)}"
                for x in period[i + 1 :]
                if x.event == "zone.published"
            ),
            None,
        )
        if closed is None and e.event.startswith(("zone.", "cycle.", "signer.")):
            open_count += 1
        what = ", ".join(
            f"{k}={v}"
            for k, v in sorted(e.details.items())
            if k in ("serial", "stage", "error", "first_finding", "component", "reason")
        )
        rows.append((_t(e.time), e.event, e.actor, what[:160] or "-", closed or "not closed"))
    return Section(
        "incidents",
        "Incidents and how they closed",
        "DPS 4.5, 4.4.7",
        ATTENTION if open_count else (INFO if rows else OK),
        f"{len(rows)} incidents and anomalies; {open_count} with no zone published after them",
        ("time", "event", "by", "what", "closed by"),
        tuple(rows),
    )


INSECURE = "insecure-by-design"  # the gate's mode for an unsigned zone (verify/insecure.py)


def _gate(period: Sequence[Entry]) -> Section:
    count = Counter(e.event for e in period)
    modes = Counter(
        str(e.details.get("mode", "full")) for e in period if e.event == "zone.verified"
    )
    rows = (
        ("zones published", str(count["zone.published"])),
        ("zones refused by the gate", str(count["zone.verification_failed"])),
        ("publications that failed", str(count["zone.publish_failed"])),
        ("full verifications", str(modes.get("full", 0))),
        ("incremental verifications", str(modes.get("incremental", 0))),
        # DPS 4.6, decision 46: unsigned zones published after going insecure's last step
        *(
            (("unsigned zones verified as insecure by design", str(modes[INSECURE])),)
            if modes.get(INSECURE)
            else ()
        ),
        ("cycles completed / failed", f"{count['cycle.completed']} / {count['cycle.failed']}"),
    )
    refused = count["zone.verification_failed"]
    return Section(
        "gate",
        "Verification gate results",
        "DPS 6.6",
        ATTENTION if refused else OK,
        f"{count['zone.published']} zones published, {refused} refused before distribution",
        ("what", "count"),
        rows,
    )


def _expiry(period: Sequence[Entry], policy: Policy) -> Section:
    margins: list[tuple[timedelta, Entry]] = []
    for e in period:
        expiry = e.details.get("earliest_signature_expiry")
        if e.event == "zone.published" and isinstance(expiry, str):
            try:
                margins.append((datetime.fromisoformat(expiry.replace("Z", "+00:00")) - e.time, e))
            except ValueError:
                continue
    if not margins:
        return Section(
            "expiry",
            "Signature-expiry margin",
            "DPS 6.5",
            INFO,
            "no publication in the period recorded its earliest signature expiry",
        )
    lowest, at = min(margins, key=lambda m: m[0])
    highest = max(m for m, _ in margins)
    # DPS 6.5: signatures are refreshed this long before they expire; a zone published
    # with less left was re-signed late.
    low = lowest < policy.signatures.refresh
    rows = tuple(
        (_t(e.time), str(e.details.get("serial")), f"{m.total_seconds() / 86400:.1f} days")
        for m, e in margins
    )
    return Section(
        "expiry",
        "Signature-expiry margin",
        "DPS 6.5",
        ATTENTION if low else OK,
        f"at publication the earliest signature expired {lowest.total_seconds() / 86400:.1f} to "
        f"{highest.total_seconds() / 86400:.1f} days later (lowest: serial "
        f"{at.details.get('serial')} at {_t(at.time)}; refreshed from "
        f"{policy.signatures.refresh.days} days before expiry)",
        ("published", "serial", "margin"),
        rows,
    )


def _ds_activity(period: Sequence[Entry]) -> Section:
    kinds = ("ds.received", "ds.accepted", "ds.rejected", "ds.changed")
    per: dict[str, Counter[str]] = defaultdict(Counter)
    rules: dict[str, Counter[str]] = defaultdict(Counter)
    for e in period:
        if e.event in kinds and e.actor.startswith("registrar:"):
            per[e.actor][e.event] += 1
            if e.event == "ds.rejected":
                for rule in e.details.get("rules", []) or ["-"]:
                    rules[e.actor][str(rule)] += 1
    rows = tuple(
        (
            actor.partition(":")[2],
            *(str(c[k]) for k in kinds),
            ", ".join(f"{r} x{n}" for r, n in rules[actor].most_common()) or "-",
        )
        for actor, c in sorted(per.items())
    )
    return Section(
        "ds",
        "Registrar DS activity",
        "DPS 3.3, 4.4.1",
        INFO,
        f"{len(rows)} registrars submitted DS data",
        ("registrar", "received", "accepted", "refused", "changes", "refusals by rule"),
        rows,
    )


def _access(period: Sequence[Entry]) -> Section:
    groups: dict[tuple[str, str, str], list[Entry]] = defaultdict(list)
    for e in period:
        if e.event in ("access.login_failed", "access.denied"):
            groups[(e.event, e.actor, str(e.details.get("channel", "-")))].append(e)
    rows = tuple(
        (event, actor, channel, str(len(es)), _t(es[0].time), _t(es[-1].time))
        for (event, actor, channel), es in sorted(groups.items(), key=lambda kv: -len(kv[1]))
    )
    total = sum(int(r[3]) for r in rows)
    return Section(
        "access",
        "Access failures",
        "DPS 4.4.1, 5.5",
        ATTENTION if total else OK,
        f"{total} failed or refused accesses",
        ("event", "who", "channel", "count", "first", "last"),
        rows,
    )


def _retention(
    v: DatabaseVerification, schedule: Schedule | None, retention: AuditRetention
) -> Section:
    rows: list[tuple[str, ...]] = [
        (a.file_name, f"{a.first_seq}-{a.last_seq}", f"{a.keep_until:%Y-%m-%d}", a.state)
        for a in v.archives
    ]
    if schedule is not None:
        rows.append(("next archive and purge", "-", _t(schedule.archive_due), "scheduled"))
        rows.append(("next expired-archive deletion", "-", _t(schedule.destroy_due), "scheduled"))
    bad = [a for a in v.archives if not a.ok]
    return Section(
        "retention",
        "Retention",
        "DPS 4.4.3",
        ATTENTION if bad else OK,
        f"{retention.summary()}; {len(v.archives)} archives, {len(bad)} missing or changed",
        ("archive", "entries", "kept until", "state"),
        tuple(rows),
    )


__all__ = ["ComplianceReport", "Section", "build_report", "format_time"]
