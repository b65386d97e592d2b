"""``tldsec hsm activate|deactivate|status``: the Security Officer puts the HSM of the
running service on-line and takes it off-line (DPS 4.2.4, 5.2.8, 5.2.9, 5.4); ``tldsec
hsm check``: the replica proof (``cycle/replicas.py``).

``activate`` asks the officer for the PIN of each token they hold (at the terminal, or
from their own ``--pin-file``) and sends it over the service's activation socket
(``service/activation.py``); ``tldsec serve`` logs in and keeps it in memory only. Both pass
the ceremony gate (``hsm.activate``, ``hsm.deactivate``) where the home's ``[ceremony]
required`` names them (DPS 4.2.2: three persons). The serving process audits every
activation, deactivation and refused login (DPS 5.5).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from tldsec.cli.common import (
    add_ceremony_argument,
    add_home_argument,
    ceremony_gate,
    operator_actor,
    settings_from_args,
)
from tldsec.errors import KeyStoreError
from tldsec.service.activation import request
from tldsec.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser(
        "hsm",
        help="activate or deactivate the HSM of the running service (Security Officer)",
        description="The Security Officer activates the HSM of the running 'tldsec serve' "
        "(the PIN goes over the service's local socket into its memory, never to a file) "
        "and deactivates it (logout, every session closed). DPS 5.2.8, 5.2.9.",
    )
    cmds = p.add_subparsers(dest="hsm_command", metavar="ACTION", required=True)
    act = cmds.add_parser("activate", help="give the running service the HSM PIN(s)")
    add_home_argument(act)
    add_ceremony_argument(act)
    act.set_defaults(handler=run_activate)
    deact = cmds.add_parser("deactivate", help="log the running service out of the HSM")
    add_home_argument(deact)
    add_ceremony_argument(deact)
    deact.set_defaults(handler=run_deactivate)
    status = cmds.add_parser("status", help="locked or active, since when, by whom")
    add_home_argument(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=run_status)
    check = cmds.add_parser(
        "check",
        help="replica proof: every HSM signs a fresh challenge with every key of the zone",
        description="Each HSM ([keystore] and every [[keystore.replica]]) signs a fresh "
        "random challenge with each key it should hold (the DNSKEY RRset and the keys "
        "waiting to enter it); each signature is verified against the exact DNSKEY RDATA "
        "the zone publishes. A key missing or different on any HSM is an incident "
        "(audited, in status); a new key enters the zone only once every HSM proved it. "
        "Exit status 1 on an incident.",
    )
    add_home_argument(check)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(handler=run_check)


def run_status(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    hsm = _ask(settings, {"op": "status"})["hsm"]
    print(json.dumps(hsm, indent=2) if args.json else status_line(hsm))
    return 0


def run_activate(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    hsm = _ask(settings, {"op": "status"})["hsm"]
    if hsm["state"] == "active":
        print(f"the HSM is already active ({status_line(hsm)})")
        return 0
    # Every PIN before the ceremony is used up: a typing mistake costs no ceremony.
    assert settings.pin_provider is not None
    pins = {
        t["name"]: settings.pin_provider(t["name"], t["label"])
        for t in hsm["tokens"]
        if t["officer_pin"]
    }
    _gate(settings, "hsm.activate", args.ceremony)
    message = {"op": "activate", "pins": pins, "actor": operator_actor()}
    if args.ceremony:
        message["ceremony"] = args.ceremony
    answer = request(settings.home, message)
    if not answer.get("ok"):
        # tldsec serve audited the refusal (access.login_failed) with the peer's uid
        raise KeyStoreError(f"{answer.get('error')}; the HSM stays locked")
    print(f"HSM activated: {status_line(answer['hsm'])}")
    return 0


def run_deactivate(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    _ask(settings, {"op": "status"})  # the service is there before a ceremony is used
    _gate(settings, "hsm.deactivate", args.ceremony)
    answer = _ask(settings, {"op": "deactivate", "actor": operator_actor()})
    print(f"HSM deactivated: {status_line(answer['hsm'])}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from tldsec.audit.config import open_audit_log, record_restored_tokens
    from tldsec.clock import SystemClock
    from tldsec.cycle.replicas import check, open_hsms
    from tldsec.keys.database import open_signer_db
    from tldsec.keys.service import KeyManager

    settings = settings_from_args(args)
    clock = SystemClock()
    engine = open_signer_db(settings.signer_db_url)
    try:
        records = KeyManager(
            engine, None, settings.policy, clock, origin=settings.origin
        ).key_records()
    finally:
        engine.dispose()
    audit = open_audit_log(settings, clock)
    try:
        with open_hsms(settings) as hsms:
            record_restored_tokens(audit.record, operator_actor())  # decision 81
            report = check(settings, hsms, records, clock.now(), audit.record, operator_actor())
    finally:
        audit.close()
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        for proof in report.proofs:
            mark = "INCIDENT " if proof.incident else ""
            print(f"{mark}{proof.line()}")
        print(
            f"{len(report.hsms)} HSM(s), {len({p.key_id for p in report.proofs})} key(s): "
            + (f"{len(report.incidents)} INCIDENT(S)" if report.incidents else "every key proven")
            + (f", {len(report.waiting)} new key(s) waiting" if report.waiting else "")
        )
    return 1 if report.incidents else 0


def status_line(hsm: dict[str, Any]) -> str:
    tokens = ", ".join(f"{t['name']} '{t['label']}'" for t in hsm.get("tokens", []))
    since = f" since {hsm['since']}" if hsm.get("since") else ""
    by = f" by {hsm['by']}" if hsm.get("by") else ""
    error = f"; last refusal: {hsm['last_error']}" if hsm.get("last_error") else ""
    return f"{hsm['state']}{since}{by} ({tokens or 'no HSM'}){error}"


def _ask(settings: Settings, message: dict[str, Any]) -> dict[str, Any]:
    answer = request(settings.home, message)
    if not answer.get("ok"):
        raise KeyStoreError(str(answer.get("error")))
    return answer


def _gate(settings: Settings, operation: str, ceremony: str | None) -> None:
    from tldsec.audit.config import open_audit_log
    from tldsec.clock import SystemClock

    audit = open_audit_log(settings, SystemClock())
    try:
        ceremony_gate(settings, operation, {}, ceremony, audit)
    finally:
        audit.close()
