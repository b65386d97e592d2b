"""What ``tldsec status`` shows of the ceremonies (STYLE 4: a human gate is a visible
state): the verified roster, the ceremonies started and not yet used, and the records
still waiting for a participant's signature. Never creates the audit database.
"""

from __future__ import annotations

from typing import Any

from tldsec.audit.config import audit_config
from tldsec.audit.log import AuditLog
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.audit.schema import current_revision
from tldsec.ceremony.gate import verified_roster
from tldsec.ceremony.store import CeremonyStore, load_ceremony_settings
from tldsec.clock import Clock
from tldsec.db.base import make_engine
from tldsec.db.exists import database_exists
from tldsec.errors import TldsecError
from tldsec.settings import Settings


def ceremony_status(settings: Settings, clock: Clock) -> dict[str, Any] | None:
    """None for a home that neither requires nor has ceremonies."""
    ceremonies = load_ceremony_settings(settings)
    store = CeremonyStore(settings.home)
    if not ceremonies.required and not store.directory.exists():
        return None
    report: dict[str, Any] = {"required": sorted(ceremonies.required)}
    config = audit_config(settings)
    if not database_exists(config.db_url):
        return report | {"roster": {"error": "no audit log: the roster cannot be verified"}}
    engine = make_engine(config.db_url)
    try:
        if current_revision(engine) is None:
            return report | {"roster": {"error": "no audit log: the roster cannot be verified"}}
        audit = AuditLog(engine, clock, signer=None)
        try:
            roster = verified_roster(settings.home, audit, ceremonies)
            report["roster"] = {"version": roster.version, "sha256": roster.digest()}
        except TldsecError as exc:
            report["roster"] = {"error": str(exc)}
        used = {
            str(e.details.get("ceremony"))
            for e in iter_entries(engine, EntryFilter(events=("ceremony.completed",)))
        }
    finally:
        engine.dispose()
    now = clock.now()
    report["open"] = []
    report["unsigned_records"] = []
    for path in sorted(store.directory.glob("[0-9]*-*.json")):
        cid = path.name.removesuffix(".record.json").removesuffix(".json")
        try:
            if path.name.endswith(".record.json"):
                record, signatures = store.record(cid)
                missing = sorted(set(record.participants) - {s.person for s in signatures})
                if missing:
                    report["unsigned_records"].append({"ceremony": cid, "missing": missing})
                continue
            s = store.get(cid).statement
        except TldsecError:
            continue  # shown by the command that reads it
        if cid not in used and now < s.expires:
            report["open"].append(
                {
                    "ceremony": cid,
                    "operation": s.operation,
                    "approved_by": [a.person for a in store.get(cid).approvals],
                    "expires": s.expires.isoformat(),
                }
            )
    return report


def status_lines(c: dict[str, Any] | None) -> list[str]:
    if c is None:
        return []
    roster = c["roster"]
    lines = [
        "ceremonies      "
        + (
            f"roster version {roster['version']} ({roster['sha256'][:16]}...)"
            if "version" in roster
            else f"ROSTER NOT VERIFIED: {roster['error']}"
        )
        + f"; required for {len(c['required'])} operation(s)"
    ]
    for o in c.get("open", []):
        who = ", ".join(o["approved_by"]) or "nobody yet"
        lines.append(
            f"ceremony open   {o['ceremony']} {o['operation']}: approved by {who}; "
            f"until {o['expires']}"
        )
    for r in c.get("unsigned_records", []):
        lines.append(
            f"ceremony record {r['ceremony']}: waiting for the signature of "
            f"{', '.join(r['missing'])} (tldsec ceremony sign)"
        )
    return lines
