"""``tldsec keys transfer``: hand the zone to another operator without going insecure.

import-dnskey, export, status, check-parent, handover (``--cancel`` before it); the
steps and their waits are ``keys/transfer.py``'s, docs/operations.md "Handing the TLD
to another operator".
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tldsec.cli.common import (
    add_ceremony_argument,
    add_home_argument,
    add_zone_argument,
    settings_from_args,
    zone_settings,
)
from tldsec.clock import SystemClock
from tldsec.errors import ConfigError, FileUnusable
from tldsec.keys import transfer
from tldsec.keys.config import load_key_settings
from tldsec.keys.gates import ParentServer
from tldsec.keys.parentproof import TrustAnchor
from tldsec.keys.transfer_service import TransferManager

Handler = Callable[[argparse.Namespace], int]


def register(acts: argparse._SubParsersAction[argparse.ArgumentParser], keys_cli: Any) -> None:
    """``keys transfer ...``; ``keys_cli`` is ``tldsec.cli.keys`` (its manager and
    ceremony helpers)."""
    p = acts.add_parser(
        "transfer",
        help="hand the zone to another operator without going insecure (DPS 4.6)",
        description="RFC 6781 4.3.5.1 with RFC 8901 model 2 for the overlap: the gaining "
        "operator's DNSKEYs are published in our DNSKEY RRset, ours in its, the parent holds "
        "both DS, then the delegation moves. 'status' shows every step and its time.",
    )
    sub = p.add_subparsers(dest="transfer_action", metavar="ACTION", required=True)

    def action(name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
        a = sub.add_parser(name, help=help_text, description=help_text)
        add_home_argument(a)
        add_zone_argument(a)  # the zone handed over (decision 57)
        a.add_argument("--json", action="store_true", help="print JSON for other tools")
        a.set_defaults(handler=lambda args: handler_with(keys_cli, handler, args))
        return a

    a = action(
        "import-dnskey",
        "record the gaining operator's KSK and ZSK (DNSKEY lines, e.g. its .key files); "
        "our DNSKEY RRset carries them from the next cycle",
        _import,
    )
    a.add_argument("file", metavar="FILE", help="DNSKEY lines; '-' reads standard input")
    a.add_argument("--operator", required=True, help="the gaining operator's name")
    a.add_argument("--reason", required=True, help="why: recorded in the audit log")
    add_ceremony_argument(a)
    action("export", "our DNSKEY RRset and DS, for the gaining operator", _export)
    action("status", "every step of the handover, what it waits for and when", _status)
    a = action(
        "check-parent",
        "ask the parent (validated from its trust anchor) whether it serves the gaining "
        "operator's DS; the first time it does is recorded",
        _check_parent,
    )
    parent_arguments(a)
    a = action(
        "handover",
        "the point of no return: the parent delegates to the gaining operator's servers "
        "only (refused unless its DS is at the parent and the caches had time); --cancel "
        "before it ends the transfer",
        _handover,
    )
    a.add_argument("--cancel", action="store_true", help="end the transfer before handover")
    a.add_argument("--reason", required=True, help="why: recorded in the audit log")
    parent_arguments(a)
    add_ceremony_argument(a)


def handler_with(keys_cli: Any, handler: Any, args: argparse.Namespace) -> int:
    args.keys_cli = keys_cli
    result: int = handler(args)
    return result


def parent_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument(
        "--trust-anchor",
        metavar="FILE",
        help="the parent zone's DS/DNSKEY lines (default: [keys] parent_trust_anchor)",
    )
    a.add_argument(
        "--server",
        action="append",
        metavar="ADDR[:PORT]",
        help="a parent name server (repeatable; default: [keys] parent_servers)",
    )
    a.add_argument("--timeout", type=float, default=3.0, help="seconds per query")


def parent_check_target(args: argparse.Namespace) -> tuple[list[ParentServer], TrustAnchor]:
    """The parent's servers and trust anchor: the options of ``parent_arguments``, else
    the [keys] settings (shared by 'keys check-parent' and 'keys transfer check-parent')."""
    conf = load_key_settings(settings_from_args(args))
    try:
        servers = (
            [ParentServer.parse(s) for s in args.server] if args.server else conf.parent_servers
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    anchor = TrustAnchor.from_file(
        Path(args.trust_anchor) if args.trust_anchor else conf.parent_trust_anchor
    )
    return list(servers), anchor


def _import(args: argparse.Namespace) -> int:
    kc = args.keys_cli
    if args.file == "-":
        import sys

        text = sys.stdin.read()
    else:
        try:
            text = Path(args.file).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FileUnusable(f"cannot read the DNSKEY file {args.file}: {exc}") from exc
    # A file that is not DNSKEY lines of the zone is refused before a ceremony is used.
    settings = zone_settings(args)
    transfer.parse_dnskeys(text, settings.origin, args.operator, SystemClock().now())
    authorised = kc._ceremony_gate(args, "keys.transfer", {"action": "import-dnskey"})
    with kc._manager(args) as km:
        tm = TransferManager(km)
        added = tm.import_dnskeys(text, args.operator, args.reason)
        peer_ds = tm.peer_ds()
    kc._ceremony_record(args, authorised, {"imported": [f"{k.role} {k.key_tag}" for k in added]})
    if args.json:
        print(json.dumps({"imported": [k.key_tag for k in added]}))
        return 0
    for k in added:
        print(f"imported {k.name} (algorithm {int(k.algorithm)}): published from the next cycle")
    print("the parent is to add the gaining operator's DS:")
    for d in peer_ds:
        print(f"  {d.zone_line()}")
    print("next: 'tldsec keys transfer export' for the gaining operator; "
          "'tldsec keys transfer status'")  # fmt: skip
    return 0


def _export(args: argparse.Namespace) -> int:
    with args.keys_cli._manager(args) as km:
        out = TransferManager(km).export()
    if args.json:
        print(
            json.dumps(
                {"dnskey": list(out.dnskey_lines), "ds": [d.as_json() for d in out.ds]}, indent=2
            )
        )
    else:
        print(out.text(), end="")
    return 0


def _status(args: argparse.Namespace) -> int:
    kc = args.keys_cli
    with kc._manager(args) as km:
        tm = TransferManager(km)
        tr = tm.current()
        steps = tm.status()
    if args.json:
        print(json.dumps([s.as_json() for s in steps], indent=2))
        return 0
    assert tr is not None
    print(f"transfer to {tr.operator}, started {kc._when(tr.started)}")
    for s in steps:
        mark = "done " + kc._when(s.done) if s.done else "due  " + kc._when(s.due)
        print(f"{mark:<22} {s.name:<18} {s.description}  [{s.command}]")
    return 0


def _check_parent(args: argparse.Namespace) -> int:
    servers, anchor = parent_check_target(args)
    with args.keys_cli._manager(args) as km:
        check, served = TransferManager(km).check_parent(servers, anchor, args.timeout)
    for a in check.answers:
        if a.ds is None:
            print(f"{a.server}: {a.error}")
        else:
            tags = " ".join(str(t) for t in sorted({tag for tag, *_ in a.ds})) or "(none)"
            print(f"{a.server}: validated, DS key tags {tags}")
    print("the gaining operator's DS is " + ("served by every parent server" if served
          else "not served by every parent server"))  # fmt: skip
    return 0 if served else 4


def _handover(args: argparse.Namespace) -> int:
    kc = args.keys_cli
    action = "cancel" if args.cancel else "handover"
    authorised = kc._ceremony_gate(args, "keys.transfer", {"action": action})
    if args.cancel:
        with kc._manager(args) as km:
            tr = TransferManager(km).cancel(args.reason)
        kc._ceremony_record(args, authorised, {"cancelled": tr.operator})
        print(f"the transfer to {tr.operator} is cancelled: its keys leave our DNSKEY RRset at "
              "the next cycle; its servers must be out of the delegation and its DS may "
              "leave the parent")  # fmt: skip
        return 0
    servers, anchor = parent_check_target(args)
    with kc._manager(args) as km:
        tm = TransferManager(km)
        tr = tm.handover(servers, anchor, args.reason, args.timeout)
        steps = tm.status()
    kc._ceremony_record(args, authorised, {"handed_over": tr.operator})
    print(f"handed over to {tr.operator}: ask the parent to delegate to its servers only. "
          "This was the point of no return.")  # fmt: skip
    for s in steps:
        if s.done is None:
            print(f"next: {kc._when(s.due)}  {s.name}: {s.description}")
    return 0
