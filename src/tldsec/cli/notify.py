"""``tldsec notify``: notices by e-mail to registrars, the list and the operator
(DPS 1.4.3, 2; docs/publication.md)."""

from __future__ import annotations

import argparse
import json

from tldsec.cli.common import (
    add_home_argument,
    add_zone_argument,
    settings_from_args,
    zone_settings,
)
from tldsec.clock import SystemClock
from tldsec.notify.outbox import FAILED, SENT, WAITING, Message, Outbox, zone_of
from tldsec.notify.run import spool_root
from tldsec.notify.worker import notify_pass


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "notify",
        help="e-mail notices: rollovers, emergencies, incidents, DPS changes, DS live",
        description="Notices by e-mail (DPS 1.4.3, 2), kept in an outbox under the home "
        "and sent through [notify] smtp_host; never part of a zone cycle.",
    )
    acts = p.add_subparsers(dest="notify_action", metavar="ACTION", required=True)
    a = acts.add_parser(
        "run",
        help="queue the notices due now, send what waits (retried with back-off)",
        description="Queue the notices due now and send every message whose attempt is "
        "due. Exit 1 when a message was given up.",
    )
    add_home_argument(a)
    add_zone_argument(a)  # the zone whose key and incident notices are queued
    a.add_argument("--json", action="store_true", help="print what was done as JSON")
    a.set_defaults(handler=_run)
    a = acts.add_parser("list", help="the messages waiting, sent and given up")
    add_home_argument(a)
    a.add_argument(
        "--zone",
        metavar="ORIGIN",
        help="one zone's messages ('shop' or 'shop.'; default: every zone, one section each)",
    )
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=_list)


def _run(args: argparse.Namespace) -> int:
    report = notify_pass(zone_settings(args), SystemClock())
    if args.json:
        print(json.dumps({
            "queued": [m.notice + " -> " + m.recipient for m in report.queued],
            "sent": [{"notice": m.notice, "recipient": m.recipient,
                      "message_id": m.message_id} for m in report.sent],
            "retrying": [{"notice": m.notice, "recipient": m.recipient,
                          "error": m.last_error} for m in report.retrying],
            "failed": [m.notice + " -> " + m.recipient for m in report.failed],
            "waiting": report.waiting,
            "no_server": report.no_server,
        }, indent=2))  # fmt: skip
    else:
        for m in report.sent:
            print(f"sent    {m.notice} to {m.recipient} {m.message_id}")
        for m in report.retrying:
            print(f"retry   {m.notice} to {m.recipient} after {m.next_attempt:%Y-%m-%d %H:%M}Z: "
                  f"{m.last_error}")  # fmt: skip
        for m in report.failed:
            print(f"FAILED  {m.notice} to {m.recipient}: {m.last_error}")
        tail = " (no [notify] smtp_host: nothing is sent)" if report.no_server else ""
        print(f"{len(report.queued)} queued, {len(report.sent)} sent, {report.waiting} "
              f"waiting{tail}")  # fmt: skip
    return 1 if report.failed else 0


def _list(args: argparse.Namespace) -> int:
    """The outbox by zone (decision 72): a message's zone is the one its subject names;
    one the home no longer serves, or none, is listed last under "other"."""
    settings = settings_from_args(args, databases=())
    outbox = Outbox(spool_root(settings))
    rows = [(state, m) for state in (WAITING, SENT, FAILED) for m in outbox.messages(state)]
    zones = [settings.zone_origin(args.zone)] if args.zone else list(settings.zones)
    sections: dict[str, list[tuple[str, Message]]] = {z: [] for z in zones}
    for state, m in rows:
        zone = zone_of(m)
        if zone in sections:
            sections[zone].append((state, m))
        elif not args.zone:
            sections.setdefault("other", []).append((state, m))
    if args.json:
        rows_out = [
            {"zone": z, "state": s, **m.as_json()}
            for z, found in sections.items()
            for s, m in found
        ]
        print(json.dumps(rows_out, indent=2))
        return 0
    for zone, found in sections.items():
        print(f"{zone}: {len(found)} message{'' if len(found) == 1 else 's'}")
        for state, m in found:
            print(f"  {state:<7} {m.notice:<40} {m.recipient:<32} attempts {m.attempts} "
                  f"{m.message_id or m.last_error}")  # fmt: skip
    return 0
