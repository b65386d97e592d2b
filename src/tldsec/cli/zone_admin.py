"""``tldsec zone add`` and ``tldsec zone list``: the zones of an installation
(decisions 57 and 68).

``zone add ORIGIN`` makes a zone that ``tldsec.toml`` already describes (tldsec never
rewrites the operator's file: without its ``[zones.NAME]`` table it prints the table to
paste and exits 2), in this order, each step skipped when a run cut short already took
it: the registry's ``zone`` row, the signer database's ``signer_meta`` row of the same
id (decision 60), the first KSK and ZSK in the shared token (under a ``keys.generate``
ceremony where the home requires one, DPS 4.2.2), the zone's directory, and an audit
entry naming the zone. No registrar is accredited: ``tldsec registrar accredit`` does
that. ``zone list`` shows each zone's policy, serial, keys, next key event and health.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tldsec.audit.config import open_audit_log
from tldsec.audit.log import AuditLog
from tldsec.audit.query import EntryFilter, count_entries
from tldsec.cli.common import (
    add_ceremony_argument,
    add_home_argument,
    ceremony_gate,
    ceremony_record,
    config_approved,
    operator_actor,
    settings_from_args,
)
from tldsec.clock import SystemClock
from tldsec.cycle.state import STATE_FILE, CycleState
from tldsec.errors import ConfigError
from tldsec.hsm.open import open_keystore
from tldsec.keys.config import load_key_settings
from tldsec.keys.database import open_signer_db
from tldsec.keys.service import KeyManager, add_signer_zone, signer_zone_ids, staggered_plans
from tldsec.keys.state import KeyEvent, KeyRecord
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.zonerows import ZoneRow, add_zone_row, nested_with, zone_rows
from tldsec.settings import Settings
from tldsec.zonehome import ZoneHome

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from tldsec.ceremony.gate import Authorised

ADDED_EVENT = "zone.added"
BOOTSTRAP_REASON = "tldsec zone add"  # the first keys' recorded reason (and how a rerun knows)
NOT_IN_CONFIG = 2  # exit status: the operator pastes the table first
# RFC 1123 2.1 labels (A-labels of RFC 5890 included), as [zones.NAME] accepts them.
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def register(commands: Any) -> None:
    """``zone add`` and ``zone list`` among ``tldsec zone``'s actions."""
    add = commands.add_parser(
        "add",
        help="add a zone tldsec.toml describes: its registry row, keys, directory",
        description="Make the zone [zones.NAME] of tldsec.toml describes: the registry's "
        "zone row, the signer's, its first KSK and ZSK in the token (under a keys.generate "
        "ceremony where the home requires one: tldsec ceremony start keys.generate --param "
        "zone=ORIGIN), its directory, an audit entry. Without the table, prints it and "
        "exits 2 (tldsec never rewrites tldsec.toml). Re-run it if it was cut short.",
    )
    add_home_argument(add)
    add.add_argument("origin", metavar="ORIGIN", help="the TLD, e.g. 'shop' or 'shop.'")
    add.add_argument("--policy", metavar="NAME", help="a name in [policies] (default: default)")
    add_ceremony_argument(add)
    add.set_defaults(handler=_add)
    listing = commands.add_parser(
        "list", help="each zone: policy, serial, keys, next key event, last cycle"
    )
    add_home_argument(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_list)


# --- zone add ---------------------------------------------------------------------------


def _origin(text: str) -> str:
    name = text.lower().rstrip(".")
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ConfigError(
            f"zone add: {text!r} is not a zone name (labels of letters, digits and inner "
            "hyphens, 1-63 characters each, A-labels for IDNs; RFC 1123 2.1, RFC 5890)"
        )
    return name + "."


def table_to_paste(settings: Settings, origin: str, policy: str) -> str:
    """What the operator adds to tldsec.toml before ``zone add`` runs (decision 57's
    ``[zones.NAME]``); a home still in ``[zone]`` form is told to rename that first."""
    name = origin.rstrip(".")
    lines = []
    if settings.config.zone is not None:
        only = next(iter(settings.zones.values()))
        lines += [
            f"# {settings.source} has one [zone] table: a home of several zones has a",
            f"# [zones.NAME] table each. Rename [zone] to [zones.{only.name}] and remove its",
            '# origin line (and zones_dir, which stays "zones"), then add:',
        ]
    lines += [
        f"[zones.{name}]",
        f'policy = "{policy}"  # a name in [policies]',
        f'apex_ns = ["a.nic.{origin}", "b.nic.{origin}"]',
        f'soa_rname = "hostmaster.nic.{origin}"',
        'reserved_names = ["nic", "whois"]',
        "ksk_stagger_days = 7  # keep its KSK rolls 7 days from the other zones' (decision 57)",
    ]
    return "\n".join(lines)


def _add(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    origin = _origin(args.origin)
    if args.policy is not None and args.policy not in settings.policies:
        raise ConfigError(
            f"zone add {origin}: --policy {args.policy!r} is not in [policies] of "
            f"{settings.source} (it names {', '.join(sorted(settings.policies))})"
        )
    if origin not in settings.zones:
        clash = nested_with(origin, list(settings.zones))
        if clash is not None:
            raise ConfigError(
                f"zone add {origin}: this home serves {clash}, and one home does not serve "
                "a zone and its child zone (decision 57)"
            )
        print(
            f"{origin} is not in {settings.source}: add this table, then run "
            f"'tldsec zone add {origin}' again (tldsec never rewrites tldsec.toml)\n"
        )
        print(table_to_paste(settings, origin, args.policy or "default"))
        return NOT_IN_CONFIG
    zone = settings.zones[origin]
    if args.policy is not None and args.policy != zone.policy_name:
        raise ConfigError(
            f"zone add {origin}: [zones.{zone.name}] policy of {settings.source} is "
            f"{zone.policy_name!r}, not {args.policy!r}: make them agree"
        )
    narrowed = settings.for_zone(origin)  # its policy, its directory, its audit zone
    policy = narrowed.policy
    clock = SystemClock()
    now = clock.now()
    registry = RegistryDatabase.from_url(settings.registry_db_url)
    try:
        with registry.read() as session:
            rows = zone_rows(session)
        # A zone of the registry that tldsec.toml no longer lists still counts.
        clash = nested_with(origin, [r.origin for r in rows])
        if clash is not None:
            raise ConfigError(
                f"zone add {origin}: the registry holds zone {clash}, and one home does not "
                "serve a zone and its child zone (decision 57)"
            )
        row_before = any(r.origin == origin for r in rows)
        with registry.write() as session:
            zone_id, _ = add_zone_row(session, origin, zone.policy_name, now)
    finally:
        registry.dispose()
    engine = open_signer_db(settings.signer_db_url)
    audit = open_audit_log(narrowed, clock)
    try:
        add_signer_zone(engine, zone_id, origin, now)
        keys_conf = load_key_settings(narrowed)
        reader = KeyManager(engine, None, policy, clock, origin=origin, zone_id=zone_id,
                            timing=keys_conf.timing(policy))  # fmt: skip
        keys = reader.key_records()
        if row_before and keys and _added_before(audit, reader, origin):
            raise ConfigError(
                f"zone add {origin}: the zone is already added (zone {zone_id}; "
                "'tldsec zone list', 'tldsec keys list --zone "
                f"{origin}')"
            )
        created: list[KeyRecord] = []
        authorised: Authorised | None = None
        if not keys:
            # A key step under an unapproved configuration is refused before the
            # ceremony is used up (DPS 4.2.2), as 'tldsec keys generate' does.
            config_approved(narrowed, audit, f"tldsec zone add {origin}")
            authorised = ceremony_gate(
                narrowed, "keys.generate", {"zone": origin}, args.ceremony, audit
            )
            store = open_keystore(narrowed.keystore_spec())
            try:
                manager = KeyManager(engine, store, policy, clock, origin=origin,
                                     zone_id=zone_id, timing=keys_conf.timing(policy),
                                     recorder=audit.record, actor=operator_actor())  # fmt: skip
                created = manager.bootstrap(BOOTSTRAP_REASON)
            finally:
                store.close()
            if authorised is not None:
                ceremony_record(narrowed, authorised, {"zone": origin, "keys": [
                    f"{k.key_tag} {k.role.value}" for k in created]}, audit)  # fmt: skip
        narrowed.zone_dir.mkdir(parents=True, exist_ok=True)
        audit.record(
            ADDED_EVENT,
            actor=operator_actor(),
            zone=origin,
            zone_id=zone_id,
            policy=zone.policy_name,
            keys=[f"{k.key_tag} {k.role.value}" for k in created or reader.key_records()],
            directory=str(narrowed.zone_dir),
            ceremony=authorised.ceremony.statement.ceremony_id if authorised else None,
            resumed=bool(keys) or row_before,
        )
    finally:
        audit.close()
        engine.dispose()
    print(f"zone {origin} added: zone {zone_id}, policy {zone.policy_name}")
    for k in created:
        print(f"  {k.role.value.upper()} {k.bits}-bit key tag {k.key_tag}")
    if authorised is not None:
        print(f"ceremony {authorised.ceremony.statement.ceremony_id}: record written; each "
              "participant signs it (tldsec ceremony sign)")  # fmt: skip
    print(
        f"no registrar is accredited for {origin}: 'tldsec registrar accredit ID {origin}'; "
        f"a running 'tldsec epp serve' sees the zone after a restart; "
        f"'tldsec keys export-ds --zone {origin}' gives the DS for the parent"
    )
    return 0


def _added_before(audit: AuditLog, reader: KeyManager, origin: str) -> bool:
    """Whether a zone with keys was added before: its ``zone.added`` entry is in the log,
    or its first keys were not made by ``zone add`` (the home's first zone, made by
    ``tldsec init`` or the founding ceremony). Otherwise a run was cut short after the
    keys, and this one finishes it."""
    flt = EntryFilter(events=(ADDED_EVENT,), zone=origin)
    if count_entries(audit.engine, flt) > 0:
        return True
    made = [e for e in reader.history() if e.transition.event is KeyEvent.GENERATED]
    return not any(e.transition.reason.startswith(BOOTSTRAP_REASON) for e in made)


# --- zone list --------------------------------------------------------------------------


def _readers(settings: Settings, engine: Engine) -> dict[str, KeyManager]:
    """A reading ``KeyManager`` per zone that has a signer row (no recorder: they never
    write)."""
    clock = SystemClock()
    ids = signer_zone_ids(engine)
    keys_conf = load_key_settings(settings)
    managers: dict[str, KeyManager] = {}
    for z in settings.zones.values():
        if z.origin not in ids:
            continue
        policy = settings.policies[z.policy_name]
        managers[z.origin] = KeyManager(engine, None, policy, clock, origin=z.origin,
                                        timing=keys_conf.timing(policy),
                                        zone_id=ids[z.origin])  # fmt: skip
    return managers


def cycle_health(settings: Settings, origin: str) -> dict[str, Any] | None:
    """The zone's last cycle from its ``cycle.json`` (None: it never ran). A one-zone
    home not yet moved into ``zones/NAME/`` (decision 57) keeps it in ``zones/``."""
    path = ZoneHome(settings.zones_dir, origin).cycle_state
    if not path.exists() and len(settings.zones) == 1:
        path = settings.zones_dir / STATE_FILE
    if not path.exists():
        return None
    last = CycleState.load(path).last
    if last is None:
        return None
    return {
        "outcome": last.get("outcome"),
        "started": last.get("started"),
        "serial": last.get("distributed"),
        "error": last.get("error"),
        "stage": last.get("stage"),
        "file": str(path),
    }


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t is not None else None


def zone_listing(settings: Settings) -> dict[str, dict[str, Any]]:
    """Each zone of the home, in the file's order: what ``zone list`` prints."""
    now = SystemClock().now()
    registry = RegistryDatabase.from_url(settings.registry_db_url)
    try:
        with registry.read() as session:
            rows: dict[str, ZoneRow] = {r.origin: r for r in zone_rows(session)}
    finally:
        registry.dispose()
    engine = open_signer_db(settings.signer_db_url)
    out: dict[str, dict[str, Any]] = {}
    try:
        managers = _readers(settings, engine)
        days = {z.origin: z.ksk_stagger_days for z in settings.zones.values()}
        # Every zone's KSK roll counts (keys/stagger.py): the plans keys plan shows.
        plans = staggered_plans([(km, days[o]) for o, km in managers.items()], now)
        for z in settings.zones.values():
            row = rows.get(z.origin)
            km = managers.get(z.origin)
            counts: Counter[str] = Counter()
            next_event = None
            if km is not None:
                for k in km.key_records():
                    state = k.state_at(now)
                    counts[f"{k.role.value} {state.value if state else 'generated'}"] += 1
                timed = [s for s in plans[z.origin].steps if s.due is not None]
                if timed:
                    first = min(timed, key=lambda s: s.due or now)
                    next_event = {"action": first.describe(), "due": _iso(first.due),
                                  "waiting_for": first.waiting_for.description}  # fmt: skip
            out[z.origin] = {
                "zone_id": row.zone_id if row else None,
                "policy": z.policy_name,
                "added": row is not None and km is not None,
                "serial": row.serial if row else None,
                "keys": dict(sorted(counts.items())),
                "next_key_event": next_event,
                "health": cycle_health(settings, z.origin),
            }
    finally:
        engine.dispose()
    return out


def _list(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    zones = zone_listing(settings)
    if args.json:
        print(json.dumps({"zones": zones}, indent=1))
        return 0
    for origin, z in zones.items():
        if not z["added"]:
            print(f"{origin}  policy {z['policy']}: not added ('tldsec zone add {origin}')")
            continue
        keys = ", ".join(f"{n} {what}" for what, n in z["keys"].items()) or "no keys"
        event = z["next_key_event"]
        health = z["health"]
        print(f"{origin}  zone {z['zone_id']}, policy {z['policy']}, "
              f"serial {z['serial'] if z['serial'] is not None else '-'}")  # fmt: skip
        print(f"  keys: {keys}")
        print(
            "  next key event: "
            + (f"{event['due'][:16].replace('T', ' ')}Z {event['action']}" if event else "-")
        )
        if health is None:
            print("  last cycle: -")
        else:
            error = f": {health['error']}" if health["error"] else ""
            print(f"  last cycle: {health['outcome']} at {health['started']}{error}")
    return 0
