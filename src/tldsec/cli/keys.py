"""``tldsec keys``: list, plan, run, generate, rollover, ds-seen, ds-gone, check-parent,
export-ds, history, simulate.

Each action parses its arguments, makes one call on a ``KeyManager`` (or the
simulation) and prints the result; ``--json`` gives the same as JSON for other tools.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tldsec.audit.config import open_audit_log
from tldsec.cli import keys_transfer
from tldsec.cli.common import (
    add_ceremony_argument,
    add_home_argument,
    add_zone_argument,
    ceremony_gate,
    ceremony_record,
    config_approved,
    settings_from_args,
    zone_settings,
)
from tldsec.clock import SystemClock
from tldsec.cycle.open import automatic_backup
from tldsec.cycle.replicas import gates_for
from tldsec.errors import ConfigError, KeyManagementError
from tldsec.hsm.open import open_keystore
from tldsec.keys import go_insecure
from tldsec.keys.config import KeySettings, load_key_settings
from tldsec.keys.database import open_signer_db
from tldsec.keys.ds import DEFAULT_DIGEST_TYPES
from tldsec.keys.models import META_ID
from tldsec.keys.planner import Plan, Step
from tldsec.keys.service import KeyManager, signer_zone_id, signer_zone_ids, staggered_plans
from tldsec.keys.simulate import ParentModel, ds_events, format_table, simulate
from tldsec.keys.stagger import DsEvent, against
from tldsec.keys.state import KeyRecord, Role, Transition
from tldsec.keys.timing import TimingParams
from tldsec.keys.zonestagger import stagger_for
from tldsec.policy import Algorithm, Policy, load_policy
from tldsec.settings import CONFIG_NAME, ZoneSettings, home_from

if TYPE_CHECKING:
    from tldsec.ceremony.gate import Authorised

Handler = Callable[[argparse.Namespace], int]

_log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "keys",
        help="the zone's KSKs and ZSKs: state, schedule, rollovers, DS for the parent",
        description="Key lifecycle on the DPS schedule (DPS 6.4): ZSK and KSK rollovers, "
        "emergency rollovers (DPS 4.5.3), the DS for the parent zone.",
    )
    acts = p.add_subparsers(dest="keys_action", metavar="ACTION", required=True)

    def action(
        name: str, help_text: str, handler: Handler, *, json_flag: bool = False, one: bool = True
    ) -> Any:
        a = acts.add_parser(name, help=help_text, description=help_text)
        add_home_argument(a)
        if one:  # acts on one zone: --zone, default the only one (decision 57)
            add_zone_argument(a)
        if json_flag:
            a.add_argument("--json", action="store_true", help="print JSON for other tools")
        a.set_defaults(handler=handler)
        return a

    a = action(
        "list", "every key of the zone, ever, with its state", _list, json_flag=True, one=False
    )
    _zone_argument(a)
    a = action(
        "plan",
        "the next steps, their dates and what each waits for",
        _plan,
        json_flag=True,
        one=False,
    )
    a.add_argument("-a", "--all", action="store_true", help="show every constraint of each step")
    _zone_argument(a)
    action("run", "carry out every step that is due now (the zone cycle does this)", _run)
    a = action("generate", "generate a key in the key store for a later rollover", _generate)
    a.add_argument("--role", choices=("ksk", "zsk"), required=True)
    a.add_argument("--reason", default="generated ahead of a rollover", help="recorded reason")
    add_ceremony_argument(a)
    a = action("rollover", "roll the active KSK or ZSK now; --emergency if compromised", _rollover)
    which = a.add_mutually_exclusive_group(required=True)
    which.add_argument("--zsk", dest="role", action="store_const", const="zsk")
    which.add_argument("--ksk", dest="role", action="store_const", const="ksk")
    a.add_argument("--key", metavar="TAG|ID", help="the key (default: the active one)")
    a.add_argument(
        "--emergency",
        action="store_true",
        help="the key is (suspected) compromised: DPS 4.5.3 emergency rollover",
    )
    a.add_argument("--reason", required=True, help="why: recorded in the history and audit log")
    a.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_ceremony_argument(a)
    a = action(
        "algorithm-rollover",
        "move the zone to another DNSSEC algorithm (RFC 6781 4.1.4): a new KSK and ZSK sign "
        "first, their DNSKEYs follow, the DS is swapped at the parent, the old keys leave",
        _algorithm_rollover,
    )
    a.add_argument(
        "--to",
        type=int,
        required=True,
        choices=sorted(int(x) for x in Algorithm),
        help="the algorithm to roll to (13 = ECDSAP256SHA256, RFC 8624); the policy's "
        "[ksk] and [zsk] algorithm must already say it",
    )
    a.add_argument("--reason", required=True, help="why: recorded in the history and audit log")
    add_ceremony_argument(a)
    a = action(
        "go-insecure",
        "end DNSSEC for the zone in order (DPS 4.6): every DS is withdrawn at the parent "
        "first, the zone stays signed until no cache can hold a DS; --cancel returns to normal",
        _go_insecure,
    )
    a.add_argument(
        "--cancel",
        action="store_true",
        help="back to normal before the zone goes unsigned: the KSK rolls, its DS is submitted",
    )
    a.add_argument("--reason", required=True, help="why: recorded in the history and audit log")
    add_ceremony_argument(a)
    keys_transfer.register(acts, sys.modules[__name__])
    for name, what in (("ds-seen", "is in"), ("ds-gone", "is gone from")):
        a = action(name, f"confirm that a KSK's DS {what} the parent zone", _ds_gate)
        a.add_argument("key", metavar="TAG|ID")
        a.add_argument("--reason", help="recorded reason (default: operator confirmed)")
        if name == "ds-seen":  # the operator overrides the parent check (DPS 4.2.2)
            add_ceremony_argument(a)
    a = action(
        "check-parent",
        "ask the parent's name servers for our DS set, validated from the parent's trust "
        "anchor; confirm what they all show",
        _check_parent,
    )
    keys_transfer.parent_arguments(a)
    a = action("export-ds", "the DS set for the parent zone", _export_ds, json_flag=True, one=False)
    _zone_argument(a)
    a.add_argument(
        "--digest-type",
        type=int,
        action="append",
        choices=(2, 4),
        help="2 = SHA-256 (default), 4 = SHA-384; repeatable",
    )
    a.add_argument(
        "--format",
        choices=("zone", "iana", "json"),
        default="zone",
        help="zone-file lines, IANA's fields (key tag, algorithm, digest type, digest), JSON",
    )
    a = action("history", "every recorded transition (of one key)", _history, json_flag=True)
    a.add_argument("key", nargs="?", metavar="TAG|ID")
    a = action(
        "simulate",
        "run the key schedule on a fake clock and print the timeline",
        _simulate,
        json_flag=True,
        one=False,
    )
    _zone_argument(a)
    a.add_argument("--days", type=int, default=1100, help="how long to simulate (default 1100)")
    a.add_argument("--start", help="start time, ISO 8601 (default: today 00:00 UTC)")
    a.add_argument("--emergency-zsk-at", type=float, metavar="DAY", help="ZSK compromise")
    a.add_argument("--emergency-ksk-at", type=float, metavar="DAY", help="KSK compromise")
    a.add_argument(
        "--registration-days",
        type=float,
        default=2.0,
        help="days the parent takes to add or remove a DS (default 2)",
    )
    a.add_argument(
        "--algorithm-rollover-at",
        type=float,
        metavar="DAY",
        help="the day 'keys algorithm-rollover' runs (with --to-algorithm)",
    )
    a.add_argument(
        "--to-algorithm",
        type=int,
        choices=sorted(int(x) for x in Algorithm),
        help="the algorithm of --algorithm-rollover-at (13 = ECDSAP256SHA256)",
    )
    a.add_argument(
        "--go-insecure-at",
        type=float,
        metavar="DAY",
        help="the day 'keys go-insecure' runs (DPS 4.6): every DS withdrawn, then unsigned",
    )
    a.add_argument(
        "--transfer-at",
        type=float,
        metavar="DAY",
        help="the day 'keys transfer import-dnskey' runs (DPS 4.6): the zone is handed to "
        "another operator as soon as each step allows",
    )


# --- plumbing ---------------------------------------------------------------------------


def _zone_argument(a: argparse.ArgumentParser) -> None:
    a.add_argument(
        "--zone",
        metavar="ORIGIN",
        help="only this zone (default: every zone of the home, one section each)",
    )


@contextmanager
def _zone_managers(
    args: argparse.Namespace,
) -> Iterator[tuple[list[tuple[KeyManager, ZoneSettings]], bool]]:
    """A reading ``KeyManager`` for each zone of ``--zone`` (or every zone) on one signer
    database, and whether the home serves several zones."""
    settings = settings_from_args(args)
    zones = [narrowed.zone for narrowed in settings.selected_zones(args.zone)]
    keys_conf = load_key_settings(settings)
    engine = open_signer_db(settings.signer_db_url)
    clock = SystemClock()
    try:
        ids = signer_zone_ids(engine)
        managers = []
        for z in zones:
            zone_id = ids.get(z.origin, META_ID) if len(settings.zones) == 1 else ids.get(z.origin)
            if zone_id is None:
                message = (
                    f"{z.origin} has no keys in the signer database: 'tldsec zone add "
                    f"{z.origin}' makes its first KSK and ZSK"
                )
                if args.zone is not None:
                    raise ConfigError(message)
                _log.warning("%s", message)  # every zone shown: the others still are
                continue
            policy = settings.policies[z.policy_name]
            km = KeyManager(
                engine,
                None,
                policy,
                clock,
                origin=z.origin,
                timing=keys_conf.timing(policy),
                zone_id=zone_id,  # these managers only read: no recorder
            )
            managers.append((km, z))
        yield managers, len(settings.zones) > 1
    finally:
        engine.dispose()


def _sections(
    args: argparse.Namespace,
    bodies: dict[str, Any],
    texts: dict[str, str | None],
    several: bool,
) -> None:
    """A one-zone home: its body as today; several zones: one section per origin
    (decision 57, "CLI --zone conventions"); JSON ``{"zones": {"example.": ...}}``. A
    text of None prints nothing."""
    if getattr(args, "json", False):
        only = next(iter(bodies.values())) if bodies else []
        print(json.dumps({"zones": bodies} if several else only, indent=2))
        return
    for n, (origin, text) in enumerate(texts.items()):
        if several:
            print(("\n" if n else "") + f"== {origin} ==")
        if text is not None:
            print(text)


def _actor() -> str:
    name = re.sub(r"[^A-Za-z0-9._@+-]", "-", getpass.getuser())[:128] or "unknown"
    return f"person:{name}"


@contextmanager
def _manager(args: argparse.Namespace, *, keystore: bool = False) -> Iterator[KeyManager]:
    """The ``KeyManager`` of the one zone the command changes (``--zone``, or the only
    one): that zone's signer id, policy and gates, its audit entries naming it."""
    settings = zone_settings(args)
    keys_conf = load_key_settings(settings)
    engine = open_signer_db(settings.signer_db_url)
    try:
        zone_id = signer_zone_id(engine, settings.origin)
    except BaseException:
        engine.dispose()
        raise
    store = open_keystore(settings.keystore_spec()) if keystore else None
    clock = SystemClock()
    audit = open_audit_log(settings, clock)
    try:
        # With the key store open, the gates of every new key are those of a cycle
        # (DPS 5.2.4 automatic archive with [backup] smk, 5.2.7 replica proof).
        yield KeyManager(
            engine,
            store,
            settings.policy,
            clock,
            origin=settings.origin,
            timing=keys_conf.timing(settings.policy),
            recorder=audit.record,
            actor=_actor(),
            backup=automatic_backup(settings, store, clock) if store is not None else None,
            gates=gates_for(settings) if store is not None else None,
            zone_id=zone_id,
            stagger=stagger_for(settings, engine, clock),  # its KSK rolls (decision 68)
        )
    finally:
        if store is not None:
            store.close()
        audit.close()
        engine.dispose()


def _when(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if t is not None else "-"


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t is not None else None


def _print_transitions(made: Sequence[Transition]) -> None:
    if not made:
        print("nothing was due")
    for t in made:
        print(f"{_when(t.time)}  {t.event:<24} {t.role} {t.key_tag}: {t.reason}")


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in (head, *rows)
    ]
    return "\n".join(lines)


# --- actions ----------------------------------------------------------------------------


def _key_json(k: KeyRecord, now: datetime) -> dict[str, Any]:
    state = k.state_at(now)
    return {
        "key_id": k.key_id,
        "key_tag": k.key_tag,
        "role": str(k.role),
        "algorithm": int(k.algorithm),
        "bits": k.bits,
        "flags": k.flags,
        "state": str(state) if state else None,
        "ds_state": str(k.ds_state_at(now)) if k.role is Role.KSK else None,
        "compromised": _iso(k.compromised),
        "backed_up": _iso(k.backed_up),  # first in a checked archive under the SMK
        **{
            name: _iso(getattr(k, name))
            for name in (
                "created", "published", "active", "retired", "removed",
                "ds_submitted", "ds_seen", "ds_withdrawal_requested", "ds_withdrawn",
            )
        },
    }  # fmt: skip


def _list(args: argparse.Namespace) -> int:
    now = SystemClock().now()
    bodies: dict[str, Any] = {}
    texts: dict[str, str | None] = {}
    with _zone_managers(args) as (managers, several):
        for km, _ in managers:
            keys = km.key_records()
            bodies[km.origin] = [_key_json(k, now) for k in keys]
            texts[km.origin] = _list_text(keys, now)
    _sections(args, bodies, texts, several)
    return 0


def _list_text(keys: Sequence[KeyRecord], now: datetime) -> str:
    rows = [
        (
            str(k.key_tag),
            str(k.role),
            str(k.state_at(now)) + (" (compromised)" if k.compromised else ""),
            str(k.ds_state_at(now)) if k.role is Role.KSK else "",
            _when(k.published),
            _when(k.active),
            _when(k.retired),
            _when(k.removed),
            f"{k.algorithm.name}/{k.bits}",
            k.key_id,
        )
        for k in keys
    ]
    head = ("tag", "role", "state", "DS", "published", "active", "retired", "removed", "alg", "id")
    return _table(head, rows) if rows else "no keys: run 'tldsec init'"


def _step_json(s: Step) -> dict[str, Any]:
    return {
        "action": str(s.action),
        "role": str(s.role),
        "key_tag": s.key_tag,
        "key_id": s.key_id,
        "predecessor_tag": s.predecessor_tag,
        "emergency": s.emergency,
        "description": s.describe(),
        "due": _iso(s.due),
        "waiting_for": {"name": s.waiting_for.name, "description": s.waiting_for.description},
        "constraints": [
            {"name": c.name, "description": c.description, "until": _iso(c.until)}
            for c in s.constraints
        ],
    }


def _plan(args: argparse.Namespace) -> int:
    bodies: dict[str, Any] = {}
    texts: dict[str, str | None] = {}
    now = SystemClock().now()
    with _zone_managers(args) as (managers, several):
        if several:
            # Every zone's next KSK roll counts, whichever zone is shown (keys/stagger.py).
            wanted = {km.origin for km, _ in managers}
            args_all = argparse.Namespace(**{**vars(args), "zone": None})
            with _zone_managers(args_all) as (everyone, _):
                plans = staggered_plans([(km, z.ksk_stagger_days) for km, z in everyone], now)
            plans = {o: p for o, p in plans.items() if o in wanted}
        else:
            plans = {km.origin: km.plan(now) for km, _ in managers}
        for km, _ in managers:
            p = plans[km.origin]
            bodies[km.origin] = [_step_json(s) for s in p.steps]
            texts[km.origin] = _plan_text(p, km.unsigned_since(), args.all)
    _sections(args, bodies, texts, several)
    return 0


def _plan_text(p: Plan, unsigned: datetime | None, every: bool) -> str | None:
    lines: list[str] = []
    if unsigned is not None:
        # DPS 4.6: going insecure's last step was taken; nothing is planned any more.
        lines.append(f"the zone is unsigned since {_when(unsigned)}Z (going insecure, DPS 4.6): "
                     f"no key step is planned; {go_insecure.FRESH_START}")  # fmt: skip
    for s in p.steps:
        due = f"{_when(s.due)}Z" if s.due is not None else "WAITING FOR A PERSON"
        overdue = " (due now)" if s.due is not None and s.due <= p.now else ""
        lines.append(f"{due:<20}{overdue}  {s.describe()}")
        lines.append(f"{'':<20}  waits for: {s.waiting_for.description}")
        if every:
            for c in s.constraints:
                lines.append(
                    f"{'':<22}- {_when(c.until) if c.until else 'gate':<16} {c.description}"
                )
    return "\n".join(lines) if lines else None


def _run(args: argparse.Namespace) -> int:
    _config_approved(args, "tldsec keys run")
    with _manager(args, keystore=True) as km:
        _print_transitions(km.run_due())
    return 0


def _generate(args: argparse.Namespace) -> int:
    authorised = _ceremony_gate(args, "keys.generate", {"role": args.role})
    with _manager(args, keystore=True) as km:
        key = km.generate(Role(args.role), args.reason)
    _ceremony_record(args, authorised, {"role": args.role, "key_tag": key.key_tag,
                                        "key_id": key.key_id})  # fmt: skip
    print(f"generated {key.name} ({key.key_id}); the planner publishes it when it is needed")
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise KeyManagementError("not a terminal: add --yes to confirm the emergency rollover")
    return input(f"{question} Type 'yes' to proceed: ").strip() == "yes"


def _rollover(args: argparse.Namespace) -> int:
    role = Role(args.role)
    authorised = _ceremony_gate(
        args, "keys.rollover", {"role": role.value, "emergency": "yes" if args.emergency else "no"}
    )
    with _manager(args, keystore=True) as km:
        if not args.emergency:
            made = km.request_rollover(role, args.reason, args.key)
            _print_transitions(made)
            _ceremony_record(args, authorised, _transitions(made))
            for s in km.plan().steps:
                if s.role is role:
                    print(f"next: {_when(s.due)}  {s.describe()} (waits for {s.waiting_for.name})")
            return 0
        print(km.emergency_preview(role, args.key).text())
        if not args.yes and not _confirm("Proceed with this emergency rollover?"):
            print("nothing done")
            return 1
        made = km.emergency_rollover(role, args.reason, args.key)
        made += _prove_on_replicas(args, km)
        _print_transitions(made)
        _ceremony_record(args, authorised, _transitions(made))
        waits = km.waiting(role)
    for line in waits:
        # DPS 5.2.4, 5.2.7: the replacement stays out; the compromised key keeps its
        # role until it passes (never a zone without a usable key of the role).
        print(f"the replacement {line}")
    return 0


def _algorithm_rollover(args: argparse.Namespace) -> int:
    authorised = _ceremony_gate(args, "keys.algorithm-rollover", {"to": str(args.to)})
    with _manager(args, keystore=True) as km:
        made = km.algorithm_rollover(args.to, args.reason)
        _print_transitions(made)
        _ceremony_record(args, authorised, _transitions(made))
        for s in km.plan().steps:
            print(f"next: {_when(s.due)}  {s.describe()} (waits for {s.waiting_for.name})")
    return 0


def _go_insecure(args: argparse.Namespace) -> int:
    authorised = _ceremony_gate(
        args, "keys.go-insecure", {"cancel": "yes" if args.cancel else "no"}
    )
    # A cancel may make a new KSK (the active one rolls): the key store is opened then.
    with _manager(args, keystore=args.cancel) as km:
        act = km.cancel_go_insecure if args.cancel else km.go_insecure
        made = act(args.reason)
        _print_transitions(made)
        _ceremony_record(args, authorised, _transitions(made))
        if args.cancel:
            print("going insecure cancelled: the KSK rolls and its successor's DS goes to the "
                  "parent ('tldsec keys plan')")  # fmt: skip
        else:
            print("the zone is going insecure (DPS 4.6): ask the parent to remove every DS; "
                  "the zone stays signed until no cache can hold one")  # fmt: skip
        for s in km.plan().steps:
            if s.role is Role.KSK:
                print(f"next: {_when(s.due)}  {s.describe()} (waits for {s.waiting_for.name})")
    return 0


def _prove_on_replicas(args: argparse.Namespace, km: KeyManager) -> list[Transition]:
    """With [[keystore.replica]], prove the keys (the new one too) on every HSM now, as a
    cycle would, and carry out what that lets in (DPS 5.2.7)."""
    from tldsec.cycle.replicas import check, open_hsms

    settings = zone_settings(args)
    if not settings.keystore.replicas:
        return []
    clock = SystemClock()
    with open_hsms(settings) as hsms:
        check(settings, hsms, km.key_records(), clock.now(), km.recorder, _actor())
    return km.run_due()


def _ceremony_gate(
    args: argparse.Namespace, operation: str, params: dict[str, str]
) -> Authorised | None:
    """Refuse the run unless its ceremony authorises it, where one is required. In a
    home of several zones the ceremony names the zone (``--param zone=ORIGIN``): one
    approved for example. does not authorise the same step in shop. (decision 68)."""
    if len(settings_from_args(args).zones) > 1:
        params = {**params, "zone": zone_settings(args).origin}
    settings = zone_settings(args)
    audit = open_audit_log(settings, SystemClock())
    try:
        # A key step under an unapproved configuration or policy is refused before the
        # ceremony is used up (DPS 4.2.2).
        config_approved(settings, audit, f"tldsec {operation}")
        return ceremony_gate(settings, operation, params, args.ceremony, audit)
    finally:
        audit.close()


def _config_approved(args: argparse.Namespace, what: str) -> None:
    """Refuse ``what`` under an unapproved configuration or policy, where required."""
    settings = zone_settings(args)
    audit = open_audit_log(settings, SystemClock())
    try:
        config_approved(settings, audit, what)
    finally:
        audit.close()


def _ceremony_record(
    args: argparse.Namespace, authorised: Authorised | None, outcome: dict[str, Any]
) -> None:
    """The record of the ceremony that authorised the run, for its people to sign."""
    if authorised is not None:
        settings = zone_settings(args)
        audit = open_audit_log(settings, SystemClock())
        try:
            ceremony_record(settings, authorised, outcome, audit)
        finally:
            audit.close()
        print(f"ceremony {authorised.ceremony.statement.ceremony_id}: record written; each "
              "participant signs it (tldsec ceremony sign)")  # fmt: skip


def _transitions(made: Sequence[Transition]) -> dict[str, Any]:
    return {"transitions": [f"{t.key_tag} {t.role.value} {t.event.value}" for t in made]}


def _ds_gate(args: argparse.Namespace) -> int:
    authorised = (
        _ceremony_gate(args, "keys.ds-seen", {"key": args.key})
        if args.keys_action == "ds-seen"
        else None
    )
    with _manager(args) as km:
        if args.keys_action == "ds-seen":
            made = km.ds_seen(args.key, args.reason or "operator confirmed the DS in the parent")
        else:
            made = km.ds_gone(args.key, args.reason or "operator confirmed the DS gone")
    _print_transitions(made)
    _ceremony_record(args, authorised, _transitions(made))
    return 0


def _check_parent(args: argparse.Namespace) -> int:
    servers, anchor = keys_transfer.parent_check_target(args)
    with _manager(args) as km:
        check, made = km.check_parent(servers, anchor, args.timeout)
        keys = km.key_records()
        ttl_problem = km.parent_ttl_problem(check)
    for a in check.answers:
        if a.ds is None:
            print(f"{a.server}: {a.error}")
        else:
            tags = sorted({tag for tag, *_ in a.ds})
            ttl = f" (TTL {a.ttl} s)" if a.ttl is not None else ""
            shown = " ".join(map(str, tags)) or "(none, proven absent)"
            print(f"{a.server}: validated, DS key tags {shown}{ttl}")
    problems = check.mismatches(keys) + ([ttl_problem] if ttl_problem else [])
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    _print_transitions(made)
    return 0 if check.complete and not problems else 1


def _export_ds(args: argparse.Namespace) -> int:
    bodies: dict[str, Any] = {}
    texts: dict[str, str | None] = {}
    found = False
    with _zone_managers(args) as (managers, several):
        for km, _ in managers:
            records = km.export_ds(tuple(args.digest_type or DEFAULT_DIGEST_TYPES))
            found = found or bool(records)
            bodies[km.origin] = [r.as_json() for r in records]
            if args.format == "iana":
                texts[km.origin] = "\n\n".join(
                    f"# DS {r.ds_state}\n{r.iana_form()}" for r in records
                )
            else:
                lines = [f"{r.zone_line()}  ; {r.ds_state}" for r in records]
                texts[km.origin] = "\n".join(lines) if lines else None
    if args.format == "json":
        args.json = True
    _sections(args, bodies, texts, several)
    return 0 if found else 1


def _history(args: argparse.Namespace) -> int:
    with _manager(args) as km:
        entries = km.history(args.key)
    if args.json:
        print(json.dumps([e.as_json() for e in entries], indent=2))
        return 0
    for e in entries:
        t = e.transition
        print(f"{_when(t.time)}  {t.event:<24} {t.role} {t.key_tag:<5}  {e.actor}: {t.reason}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    if (args.algorithm_rollover_at is None) != (args.to_algorithm is None):
        raise ConfigError("--algorithm-rollover-at and --to-algorithm go together")
    home = home_from(args.home)
    # origin -> (policy, timing, ksk_stagger_days, shown): every zone is simulated, in the
    # home's order, each staggered against those before it (decision 68); --zone shows one.
    runs: dict[str, tuple[Policy, TimingParams, int, bool]] = {}
    several = False
    if (home / CONFIG_NAME).exists():
        settings = settings_from_args(args)
        conf = load_key_settings(settings)
        several = len(settings.zones) > 1
        shown = {s.origin for s in settings.selected_zones(args.zone)}
        for z in settings.zones.values():
            policy = settings.policies[z.policy_name]
            runs[z.origin] = (policy, conf.timing(policy), z.ksk_stagger_days, z.origin in shown)
    elif args.home:
        raise ConfigError(f"{home / CONFIG_NAME} does not exist")
    else:
        policy = load_policy()
        runs["."] = (policy, KeySettings().timing(policy), 0, True)
    if args.start:
        start = datetime.fromisoformat(args.start)
        start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    else:
        now = SystemClock().now()
        start = datetime(now.year, now.month, now.day, tzinfo=UTC)
    bodies: dict[str, Any] = {}
    texts: dict[str, str | None] = {}
    before: list[tuple[str, Sequence[tuple[DsEvent, datetime]]]] = []
    for origin, (policy, timing, days, show) in runs.items():
        # The what-if options are the shown zones'; the others run their schedule.
        result = simulate(
            policy,
            timing,
            start,
            args.days,
            parent=ParentModel(registration_delay=timedelta(days=args.registration_days)),
            emergency_zsk_at=args.emergency_zsk_at if show else None,
            emergency_ksk_at=args.emergency_ksk_at if show else None,
            algorithm_rollover_at=args.algorithm_rollover_at if show else None,
            to_algorithm=args.to_algorithm if show else None,
            go_insecure_at=args.go_insecure_at if show else None,
            transfer_at=args.transfer_at if show else None,
            ksk_stagger=against(origin, before, policy.ksk, timing, days) if before else None,
        )
        before.append((origin, ds_events(result)))
        if show:
            bodies[origin] = [e.as_json() for e in result.events]
            texts[origin] = format_table(result.events)
    if args.json:
        # As before: one event per line for a one-zone home.
        body = {"zones": bodies} if several else next(iter(bodies.values()))
        print(json.dumps(body, indent=1))
        return 0
    _sections(args, bodies, texts, several)
    return 0
