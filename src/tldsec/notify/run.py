"""One pass of ``tldsec notify run``: make the notices that are due, then send what waits.

The values come from the home (keys, audit entries, DPS versions, registrars' addresses,
the registry trace's served DS changes);
``notices`` decides, ``render`` writes, the outbox keeps, ``smtp`` sends. A message the
server refuses or cannot take waits in the outbox and is tried again with a doubling
delay; every message queued, sent (with its Message-ID) or given up is in the audit log.
Nothing here runs inside a zone cycle: ``tldsec serve`` (or a timer) runs it beside.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from tldsec.audit.events import EventType
from tldsec.audit.log import AuditLog
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.clock import FakeClock
from tldsec.errors import ConfigError, NotifyError, NotifyUnsendable
from tldsec.keys.config import load_key_settings
from tldsec.keys.service import KeyManager, signer_zone_id
from tldsec.notify import notices as n
from tldsec.notify.notices import Draft, NoticeKind
from tldsec.notify.outbox import FAILED, SENT, Message, Outbox
from tldsec.notify.render import render
from tldsec.notify.smtp import SmtpConfig, send
from tldsec.publish.calendar import rollover_calendar
from tldsec.publish.home import dps_versions
from tldsec.publish.incidents import INCIDENT_EVENTS, incidents
from tldsec.settings import Settings, resolve_pin
from tldsec.settings.tables import NotifyTable

ACTOR = "component:notifier"
WHO = ("registrars", "list", "operator")
Sender = Callable[[Message, SmtpConfig], str]


@dataclass(frozen=True, slots=True)
class Report:
    """What one pass did."""

    queued: tuple[Message, ...] = ()
    sent: tuple[Message, ...] = ()
    retrying: tuple[Message, ...] = ()
    failed: tuple[Message, ...] = ()
    waiting: int = 0  # messages left in the outbox
    no_server: bool = False  # [notify] smtp_host is empty: nothing was sent


@dataclass(frozen=True, slots=True)
class Audience:
    """Where each kind of notice goes."""

    registrars: Mapping[str, str]  # client id -> address, enabled registrars
    list_address: tuple[str, ...]
    operator: tuple[str, ...]
    routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def addresses(self, draft: Draft) -> list[str]:
        if draft.kind is NoticeKind.DS_LIVE:
            address = self.registrars.get(draft.registrar or "")
            return [address] if address else []
        out: list[str] = []
        for who in self.routes.get(str(draft.kind), WHO):
            if who == "registrars":
                out.extend(self.registrars[c] for c in sorted(self.registrars))
            elif who == "list":
                out.extend(self.list_address)
            elif who == "operator":
                out.extend(self.operator)
        return list(dict.fromkeys(a for a in out if a))  # each address once, in order


def audience(table: NotifyTable, registrars: Mapping[str, str], source: str) -> Audience:
    """The ``[notify]`` recipients, checked: kinds and names known."""
    routes = dict(table.recipients or {})
    kinds = {str(k) for k in n.PUBLIC_KINDS}
    for kind, whos in routes.items():
        if kind not in kinds:
            raise ConfigError(
                f"[notify] recipients in {source}: unknown notice kind {kind!r} "
                f"(kinds: {', '.join(sorted(kinds))})"
            )
        for who in whos:
            if who not in WHO:
                raise ConfigError(
                    f"[notify] recipients.{kind} in {source}: {who!r} is not one of "
                    f"{', '.join(WHO)}"
                )
    return Audience(registrars, table.list_address, table.operator, routes)


def smtp_config(settings: Settings) -> SmtpConfig | None:
    """How to reach the server; None when ``[notify] smtp_host`` is empty."""
    t = settings.config.notify
    if not t.smtp_host:
        return None
    password = resolve_pin(t.password_source, settings.home) if t.password_source else ""
    if t.username and not password:
        raise ConfigError(f"[notify] username is set in {settings.source} but no password_source")
    ca = None
    if t.ca_file:
        ca = Path(t.ca_file) if Path(t.ca_file).is_absolute() else settings.home / t.ca_file
    origin = settings.origin.rstrip(".")
    return SmtpConfig(
        host=t.smtp_host,
        port=t.smtp_port,
        security=t.security,
        sender=t.sender or f"dnssec@{origin}",
        timeout=t.timeout_seconds,
        username=t.username,
        password=password,
        ca_file=ca,
        msgid_domain=origin or "localhost",
    )


def due_notices(
    settings: Settings,
    signer_engine: Engine,
    audit: AuditLog,
    now: datetime,
    served: Sequence[n.ServedChange] = (),
) -> list[Draft]:
    """Every notice the home's state calls for now (the outbox drops those made before);
    ``served``: the registry trace's DS changes served by every secondary
    (``notify/served.py``), for the "ds-live" notices."""
    t = settings.config.notify
    timing = load_key_settings(settings).timing(settings.policy)
    km = KeyManager(
        signer_engine, None, settings.policy, FakeClock(now), origin=settings.origin,
        timing=timing, zone_id=signer_zone_id(signer_engine, settings.origin),
    )  # fmt: skip
    keys = km.key_records()
    ahead = timedelta(days=t.rollover_notice_days)
    going = km.going_insecure()
    calendar = rollover_calendar(
        keys, settings.policy, timing, now, max(1, ahead.days + 1),
        insecure_since=going[0] if going else None, handover=km.transfer(),
    )  # fmt: skip
    since = now - n.DEFAULT_LOOKBACK
    # An incident that began before the window may end inside it.
    # This zone's entries and the installation's (decision 58), not another zone's.
    zone = settings.origin
    flt = EntryFilter(events=(*INCIDENT_EVENTS, *set(INCIDENT_EVENTS.values())), zone=zone)
    found = incidents(iter_entries(audit.engine, flt), now, settings.policy.cycle.safety_margin)
    insecure = list(
        iter_entries(audit.engine, EntryFilter(since=since, events=n.GO_INSECURE_EVENTS, zone=zone))
    )
    # Every transfer record (a handful per transfer): whether an import starts one.
    transfers = list(iter_entries(audit.engine, EntryFilter(events=n.TRANSFER_EVENTS, zone=zone)))
    return [
        *n.rollover_notices(keys, calendar, now, ahead, origin=zone),
        *n.incident_notices(found, now),
        *n.dps_notices(dps_versions(settings), now, timedelta(days=t.dps_notice_days)),
        # This zone's changes (the trace is read for every zone at once).
        *n.ds_live_notices(
            [c for c in served if _in_zone(c.domain, zone)], t.ds_live_registrars, now
        ),
        *n.go_insecure_notices(insecure, now),
        *n.transfer_notices(transfers, now),
    ]


def _in_zone(domain: str, origin: str) -> bool:
    """Whether ``domain`` (a delegation) is a name of the zone ``origin``."""
    return domain.lower().rstrip(".").endswith("." + origin.lower().strip("."))


def enqueue(
    outbox: Outbox,
    drafts: Sequence[Draft],
    people: Audience,
    common: Mapping[str, str],
    now: datetime,
    audit: AuditLog,
) -> list[Message]:
    """Render and queue each new notice, one message per recipient; audited."""
    queued: list[Message] = []
    for d in drafts:
        if outbox.known(d.id):
            continue
        # Sent before its id named the zone (decision 72): the same notice, once.
        if d.before is not None and outbox.known(d.before, zone=common["zone"]):
            continue
        to = people.addresses(d)
        if not to:
            continue
        subject, body = render(d, common)
        messages = [
            Message(d.id, str(d.kind), a, subject, body, created=now, next_attempt=now) for a in to
        ]
        outbox.add(messages)
        audit.record(
            EventType.NOTICE_QUEUED, actor=ACTOR, notice=d.id, kind=str(d.kind),
            recipients=len(messages), subject=subject,
        )  # fmt: skip
        queued.extend(messages)
    return queued


def deliver(
    outbox: Outbox,
    config: SmtpConfig,
    table: NotifyTable,
    now: datetime,
    audit: AuditLog,
    sender: Sender = send,
) -> tuple[list[Message], list[Message], list[Message]]:
    """Try each due message once: (sent, retrying, failed)."""
    sent: list[Message] = []
    retrying: list[Message] = []
    failed: list[Message] = []
    for m in outbox.due(now):
        try:
            message_id = sender(m, config)
        except NotifyError as exc:
            after = m.failed_attempt(str(exc), now, table.retry_seconds, table.retry_max_seconds)
            if after.attempts >= table.max_attempts or isinstance(exc, NotifyUnsendable):
                outbox.move(after, FAILED)
                audit.record(
                    EventType.NOTICE_FAILED, actor=ACTOR, notice=m.notice, kind=m.kind,
                    recipient=m.recipient, attempts=after.attempts, error=after.last_error,
                )  # fmt: skip
                failed.append(after)
            else:
                outbox.save("outbox", after)
                retrying.append(after)
            continue
        done = dataclasses.replace(m, attempts=m.attempts + 1, message_id=message_id, sent=now)
        # Recorded before the file moves: a crash between the two sends the message
        # again (at least once), never records a message that was not accepted.
        audit.record(
            EventType.NOTICE_SENT, actor=ACTOR, notice=m.notice, kind=m.kind,
            recipient=m.recipient, message_id=message_id, attempts=done.attempts,
        )  # fmt: skip
        outbox.move(done, SENT)
        sent.append(done)
    return sent, retrying, failed


def spool_root(settings: Settings) -> Path:
    """The outbox directory, ``[notify] spool_dir`` (relative to the home)."""
    spool = Path(settings.config.notify.spool_dir)
    return spool if spool.is_absolute() else settings.home / spool


def run_once(
    settings: Settings,
    signer_engine: Engine,
    registrars: Mapping[str, str],
    audit: AuditLog,
    now: datetime,
    *,
    served: Sequence[n.ServedChange] = (),
    sender: Sender = send,
) -> Report:
    """Queue the notices due now and send every message whose attempt is due; ``served``
    as ``due_notices`` takes it."""
    t = settings.config.notify
    outbox = Outbox(spool_root(settings))
    people = audience(t, registrars, str(settings.source))
    site = settings.config.publish.base_url
    if site and not site.endswith("/"):
        site += "/"
    common = {"zone": settings.origin, "site": site}
    due = due_notices(settings, signer_engine, audit, now, served)
    queued = enqueue(outbox, due, people, common, now, audit)
    config = smtp_config(settings)
    if config is None:
        return Report(queued=tuple(queued), waiting=len(outbox.due(now)), no_server=True)
    sent, retrying, failed = deliver(outbox, config, t, now, audit, sender)
    return Report(
        queued=tuple(queued),
        sent=tuple(sent),
        retrying=tuple(retrying),
        failed=tuple(failed),
        waiting=sum(1 for _ in outbox.messages()),
    )
