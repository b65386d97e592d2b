"""Whether signing can happen now (GET /health, DPS 4.5.4 and 4.4.1): 200 only if
nothing stands in the way, else 503 with every reason in ``faults``, while the hidden
primary keeps serving the last good zone.

A fault is any of: the publication lease lost (decision 49), a primary that refuses
or does not take the signer's pushes; no zone served (where the primary runs); the
primary refused a zone file; the last cycle failed, was refused or held; the
scheduler's check failed (a registry or signer database away); a database the service
needs does not answer; the HSM is locked, its login failed, or it is unavailable
(retried with back-off); an HSM lacks a key (replica proof); the audit log cannot be
read or written, or its watch raised an integrity alarm. Each is one line that names
what failed and where; in a home of several zones a zone's own faults (its cycle, its
check, its serial served) start with the zone (``shop.: the last cycle held ...``), so
/health names the zone that failed while the others publish on (decision 67)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tldsec.cycle.schedule import Scheduler
from tldsec.distribute.server import PrimaryServer

HSM_LOCKED = "the HSM is locked"
HSM_UNAVAILABLE = "the HSM is unavailable"


def faults(
    *,
    primary: PrimaryServer | None,
    schedulers: Mapping[str, Scheduler | None],
    hsm: dict[str, Any],
    replicas: dict[str, Any] | None,
    audit: dict[str, Any],
    databases: dict[str, str | None],
    serves_zone: bool = True,
    publication: list[str] | None = None,
) -> list[str]:
    """Every reason signing cannot happen now, worst first; empty: it can.
    ``schedulers``: each zone's (by origin); ``serves_zone``: this process runs the
    primary; ``publication``: the lease lost, a primary refusing or unreachable
    (``publication.py``)."""
    found: list[str] = list(publication or ())
    several = len(schedulers) > 1 or (primary is not None and len(primary.zones) > 1)

    def named(origin: str, line: str) -> str:
        return f"{origin}: {line}" if several else line

    if serves_zone and primary is None:
        found.append("the primary serves no zone yet")
    if primary is not None:
        for zone in primary.zones.values():
            if serves_zone and zone.serial is None:
                found.append(named(zone.origin.to_text(), "the primary serves no zone yet"))
            if zone.problem is not None:
                found.append(named(zone.origin.to_text(), f"primary: {zone.problem}"))
    if audit.get("integrity") == "ALARM":
        found.append(f"audit log: {audit.get('integrity_alarms')} integrity alarm(s) (DPS 4.4.2)")
    found.extend(error for error in databases.values() if error is not None)
    if audit.get("error"):
        found.append(f"audit log: {audit['error']}")
    for origin, scheduler in schedulers.items():
        found.extend(named(origin, line) for line in zone_faults(scheduler))
    if hsm.get("state") == "locked":
        # the zone is served, but nothing can be signed (DPS 5.2.8)
        error = hsm.get("last_error")
        found.append(
            f"{HSM_LOCKED}: the login failed: {error}"
            if error
            else f"{HSM_LOCKED}: the Security Officer activates it ('tldsec hsm activate')"
        )
    if hsm.get("state") == "unavailable":
        found.append(f"{HSM_UNAVAILABLE} (retrying with back-off): {hsm.get('last_error')}")
    if replicas is not None and replicas["incidents"]:
        found.extend(f"replica proof: {line}" for line in replicas["incidents"])
    return found


def zone_faults(scheduler: Scheduler | None) -> list[str]:
    """One zone's faults: its check failed, its last cycle failed, was refused or held."""
    if scheduler is None:
        return []
    found = []
    if scheduler.last_error:
        found.append(f"the scheduler's check failed: {scheduler.last_error}")
    last = scheduler.last
    if last is not None and last.get("outcome") in ("refused", "failed", "held"):
        why = last.get("error") or last.get("reason")
        where = f" at {last['stage']}" if last.get("stage") else ""
        found.append(f"the last cycle {last['outcome']}{where}: {why}")
    return found
