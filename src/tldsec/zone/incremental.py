"""The unsigned zone file from the previous one and the registry changes since.

``build_zone_file`` is what a cycle calls. When the file at ``path`` has a trustworthy
build record (``zone.buildinfo``: same origin, apex settings and TTLs, its digest and
size), it reads the ``zone_change`` rows written since, works out every owner they can
affect, reads only those from the registry (``zone.owners``) and writes the new file as
the old one with those owners' blocks rewritten (``zone.blocks`` finds them by
bisection; everything between is copied as bytes). Otherwise, or when too many names
changed, it runs the full build. Either way the file is byte-for-byte what the full
build (``zone.builder``) writes for the same snapshot, serial and time.

The owners a change to name N can affect:

* N as a domain: its NS and DS (create, update, delete, holds: RFC 5731 2.3);
* the name servers N used before (the previous file's NS) and uses now: whether each is
  still glue depends on the domains using it;
* the hosts under N: their glue becomes orphan glue, or stops being, when N's
  delegation goes or comes back (DPS 6.6; the count in the trailer);
* N as a host: its addresses; when renamed (its history row says to what), the new
  name and every domain using it, whose NS now name it;
* the apex, always (the SOA serial).
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tldsec.clock import to_epoch
from tldsec.errors import ZoneContentError, ZoneError, ZoneSyntaxError
from tldsec.policy import TtlPolicy
from tldsec.progress import ProgressFor
from tldsec.registry.context import RegistryRules
from tldsec.registry.models import ZoneChange
from tldsec.registry.names import superordinate
from tldsec.settings import ApexSettings
from tldsec.zone import owners
from tldsec.zone.blocks import ZoneFileBlocks
from tldsec.zone.builder import (
    ZoneRecord,
    apex_records,
    canonical_key,
    delegation_records,
    glue_records,
    header_line,
    trailer_line,
)
from tldsec.zone.buildinfo import GAP_HORIZON, BuildInfo, fingerprint
from tldsec.zone.full import build_full
from tldsec.zone.output import BuildResult, write_atomic
from tldsec.zone.quarantine import Isolation, ledger_suspects

log = logging.getLogger(__name__)

MIN_NAMES = 2_000  # always incremental up to this many changed names
SHARE = 20  # ... and up to one in SHARE of the delegations
MAX_UNSETTLED = 10_000


class _FullBuild(Exception):
    """The previous file cannot be used; the message says why."""


def build_zone_file(
    session: Session,
    path: Path,
    *,
    zone_id: int,
    origin: str,
    apex: ApexSettings,
    ttl: TtlPolicy,
    rules: RegistryRules,
    serial: int,
    built_at: datetime,
    max_names: int | None = None,
    incremental: bool = True,
    progress: ProgressFor | None = None,
    ledger: bool = False,
) -> BuildResult:
    """Write the unsigned zone ``zone_id`` (the registry's id of ``origin``) to ``path``
    (atomically, with its build record) from one registry snapshot
    (``RegistryDatabase.snapshot``): its domains, its hosts' glue and its changes (decision
    57); every object written passes
    ``rules`` or is quarantined (``zone.quarantine``); with ``ledger``, so is every owner
    it writes whose rows differ from the registry's digest (``registry/zonedigest``).
    ``progress`` hears how far a full build is (an incremental one is proportional to the
    changes)."""
    origin = origin.lower() if origin.endswith(".") else origin.lower() + "."
    if not 0 < serial < 2**32:
        raise ValueError(f"SOA serial {serial} is outside 1..2^32-1 (RFC 1035 3.3.13)")
    if incremental:
        try:
            return _incremental(
                session,
                path,
                _Plan(zone_id, origin, apex, ttl, rules, serial, built_at, 0, {}, ledger),
                max_names,
            )
        except _FullBuild as why:
            reason = str(why)
        except (ZoneError, ValueError, KeyError, IndexError, UnicodeError) as exc:
            # Never build on text the database may no longer hold: any failure of the
            # incremental path is answered by a full build from the database.
            reason = f"the incremental build failed ({type(exc).__name__}: {exc})"
            log.warning("incremental zone build failed: %s", exc)
    else:
        reason = "incremental build turned off"
    log.info("full zone build: %s", reason)
    return build_full(
        session,
        path,
        zone_id,
        origin,
        apex,
        ttl,
        rules,
        serial,
        built_at,
        reason,
        progress,
        ledger,
    )


# --- incremental ----------------------------------------------------------------------------


def _incremental(session: Session, path: Path, start: _Plan, max_names: int | None) -> BuildResult:
    origin, apex, ttl, rules = start.origin, start.apex, start.ttl, start.rules
    info = BuildInfo.load(path)
    if info is None or not path.exists():
        raise _FullBuild(f"no previous zone file with a build record at {path}")
    if info.origin != origin or info.fingerprint != fingerprint(origin, apex, ttl, rules):
        raise _FullBuild(
            "the origin, apex settings, TTLs or registry rules changed since the previous build"
        )
    if info.distrusted >= 2 or (info.distrusted and not info.rewritten):
        raise _FullBuild("cycles failed on the previous file's content")
    limit = max_names if max_names is not None else max(MIN_NAMES, info.delegations // SHARE)
    newest = session.scalar(select(func.max(ZoneChange.id))) or 0
    if newest < info.last_change_id:
        raise _FullBuild(
            f"the registry's newest change {newest} is older than the previous file's "
            f"{info.last_change_id} (a restored database?)"
        )
    if newest - info.last_change_id > 4 * limit or len(info.unsettled) > MAX_UNSETTLED:
        raise _FullBuild(f"more than {4 * limit} registry changes since the previous build")
    # Every visible id settles (ids are the registry's, shared by its zones); only this
    # zone's rows name what to rebuild.
    visible = session.execute(
        select(
            ZoneChange.id, ZoneChange.zone_id, ZoneChange.name, ZoneChange.reason, ZoneChange.at
        ).where(or_(ZoneChange.id > info.last_change_id, ZoneChange.id.in_(list(info.unsettled))))
    ).all()
    rows = [row for row in visible if row.zone_id == start.zone_id]
    changed = {row.name for row in rows}
    if info.distrusted:
        # A cycle failed on the previous file: read what it wrote again from the database.
        changed.update(info.rewritten)
    # Quarantined objects are looked at again in every build (zone.quarantine).
    changed.update(q.name for q in info.quarantine)
    if len(changed) > limit:
        raise _FullBuild(f"{len(changed)} names changed, more than the limit of {limit}")

    now = to_epoch(start.built_at)
    seen = {row.id for row in visible}
    unsettled = {i: t for i, t in info.unsettled.items() if i not in seen and now - t < GAP_HORIZON}
    for i in range(info.last_change_id + 1, newest + 1):
        if i not in seen:
            unsettled[i] = now

    try:
        renames = owners.host_renames(
            session, [(row.name, row.at) for row in rows if row.reason == "host-update"]
        )
    except owners.UnknownRename as exc:
        raise _FullBuild(str(exc)) from exc
    targets = {t for ts in renames.values() for t in ts}
    domains = changed | owners.users(session, targets)
    hosts = (
        changed
        | targets
        | owners.name_servers(session, domains)
        | owners.subordinate_hosts(session, domains)
    )

    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size != info.size or info.size == 0:
            raise _FullBuild("the previous zone file does not match its build record")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            if hashlib.sha256(mm).hexdigest() != info.sha256:
                raise _FullBuild("the previous zone file does not match its build record")
            try:
                blocks = ZoneFileBlocks(mm, str(path))
            except ZoneSyntaxError as exc:
                raise _FullBuild(str(exc)) from exc
            return _splice(
                session,
                path,
                blocks,
                info,
                replace(start, newest=newest, unsettled=unsettled),
                domains,
                hosts,
                len(rows),
            )


@dataclass(frozen=True, slots=True)
class _Plan:
    zone_id: int
    origin: str
    apex: ApexSettings
    ttl: TtlPolicy
    rules: RegistryRules
    serial: int
    built_at: datetime
    newest: int
    unsettled: dict[int, int]
    ledger: bool = False


def _splice(
    session: Session,
    path: Path,
    blocks: ZoneFileBlocks,
    info: BuildInfo,
    plan: _Plan,
    domains: set[str],
    hosts: set[str],
    changes: int,
) -> BuildResult:
    origin, ttl = plan.origin, plan.ttl
    suffix = "." + origin[:-1]
    apex_groups: dict[str, list[ZoneRecord]] = {}
    for record in apex_records(origin, plan.apex, ttl, plan.serial):
        apex_groups.setdefault(record.owner, []).append(record)

    # The name servers the changed domains used in the previous file.
    changed_owners = sorted({d + "." for d in domains if d.endswith(suffix)}, key=canonical_key)
    for block in blocks.blocks(changed_owners):
        for line in blocks.lines(block):
            fields = line.split(" ", 4)
            if fields[3] == "NS":
                hosts.add(fields[4][:-1])

    # Every quarantined object is evaluated again: a row fixed in the database (even
    # without a zone_change row) leaves the quarantine now.
    held: dict[str, set[str]] = {"domain": set(), "host": set()}
    for q in info.quarantine:
        held[q.kind].add(q.name)
    names = {n for n in domains | hosts | held["domain"] | held["host"] if n.endswith(suffix)}
    names.update(o[:-1] for o in apex_groups if o != origin)
    outside_names = {n for n in domains | hosts if n not in names}
    isolation = Isolation(
        plan.rules,
        before=info.quarantine,
        kept=lambda owner: blocks.lines(blocks.find(owner)),
        now=to_epoch(plan.built_at),
        # Every owner written: its rows must be what the registry's services wrote.
        suspects=(
            ledger_suspects(session, names | outside_names, (plan.zone_id, origin))
            if plan.ledger
            else None
        ),
    )
    # Changed names outside the file's namespace (a row renamed outside the TLD, with a
    # space...) are never written, but are evaluated so that the incident is recorded.
    outside = {n for n in domains | hosts if n not in names}
    held["domain"] |= outside
    held["host"] |= outside
    delegated: dict[str, owners.DomainState] = {}
    evaluated_domains = set()
    for name, state in owners.domains(session, names | held["domain"], plan.zone_id).items():
        evaluated_domains.add(name)
        published = isolation.domain(name, state.ns, state.records)
        if published is not None:
            delegated[name] = owners.DomainState(published[0], published[1])
    # Rows that differ from the registry's digest and no longer delegate the owner: what
    # the previous build published stays (decision 42).
    for name in sorted(set(isolation.suspects) - evaluated_domains):
        kept = isolation.vanished_domain(name)
        if kept is not None:
            delegated[name] = owners.DomainState(kept[0], kept[1])
    withheld = {q.name for q in isolation.found.values() if q.kind == "domain"}
    candidates = owners.glue_hosts(
        session, names | held["host"], plan.zone_id, used_only=not withheld
    )
    if withheld:
        # A host is glue when a *published* delegation uses it: a withheld domain's
        # own name servers do not count, its kept ones do (as in the full build).
        users = owners.host_users(session, candidates, plan.zone_id)
        candidates = {
            name: host
            for name, host in candidates.items()
            if users.get(name, set()) - withheld
            or any(name in delegated[d].ns for d in withheld if d in delegated)
        }
    glue: dict[str, owners.HostState] = {}
    for name, host in candidates.items():
        addresses = isolation.glue(name, host.addresses)
        if addresses is not None:
            glue[name] = owners.HostState(host.parent, addresses)
    for name in sorted(set(isolation.suspects) - set(candidates)):
        kept_glue = isolation.vanished_glue(name)
        parent = superordinate(name, origin)
        if kept_glue is not None and parent is not None:
            glue[name] = owners.HostState(parent, kept_glue)
    evaluated = {"domain": names | held["domain"], "host": names | held["host"]}
    quarantined, new, released = isolation.result(lambda kind, name: name in evaluated[kind])
    apex_parents = {superordinate(ns.rstrip("."), origin) for ns in plan.apex.ns}
    parents = {h.parent for h in glue.values()} | {p for p in apex_parents if p is not None}
    parent_delegated = set(delegated) | set(owners.domains(session, parents - names, plan.zone_id))
    for ns in plan.apex.ns:
        parent = superordinate(ns.rstrip("."), origin)
        if parent is not None and parent in parent_delegated:
            raise ZoneContentError(
                f"apex name server {ns} lies below the delegated domain {parent}: "
                f"the registry must not delegate {parent}"
            )

    counts = [info.delegations, info.with_ds, info.glue_hosts]
    old_apex_glue = set(info.apex_glue_hosts)
    rewritten = sorted({n + "." for n in names} | set(apex_groups), key=canonical_key)

    def content() -> Iterable[bytes]:
        data = blocks.data
        yield header_line(origin, plan.serial, plan.built_at).encode("ascii")
        pos = blocks.start
        for block in blocks.blocks(rewritten):
            if block.start > pos:
                yield data[pos : block.start]
            pos = block.end
            owner, name = block.owner, block.owner[:-1]
            types = [line.split(" ", 4)[3] for line in blocks.lines(block)]
            group = list(apex_groups.get(owner, ()))
            state = delegated.get(name)
            if state is not None:
                group.extend(delegation_records(owner, state.ns, state.ds, ttl))
            host = glue.get(name)
            if host is not None and owner not in apex_groups:
                group.extend(glue_records(owner, host.addresses, ttl))
            if owner != origin:
                counts[0] += (state is not None) - ("NS" in types)
                counts[1] += (state is not None and bool(state.ds)) - ("DS" in types)
            if owner in apex_groups:
                was_glue = name in old_apex_glue
            else:
                was_glue = "A" in types or "AAAA" in types
            counts[2] += (host is not None) - was_glue
            yield "".join(r.line() + "\n" for r in group).encode("ascii")
        if blocks.end > pos:
            yield data[pos : blocks.end]
        orphans = (set(info.orphan_hosts) - names) | {
            h for h, s in glue.items() if s.parent not in parent_delegated
        }
        info_out.append(orphans)
        yield trailer_line(counts[0], counts[1], counts[2], len(orphans)).encode("ascii")

    info_out: list[set[str]] = []
    digest, size = write_atomic(path, content())
    orphans = info_out[0]
    apex_glue = tuple(sorted(n for n in glue if n + "." in apex_groups))
    BuildInfo(
        origin=origin,
        serial=plan.serial,
        last_change_id=plan.newest,
        fingerprint=info.fingerprint,
        sha256=digest,
        size=size,
        delegations=counts[0],
        with_ds=counts[1],
        glue_hosts=counts[2],
        orphan_hosts=tuple(sorted(orphans)),
        apex_glue_hosts=apex_glue,
        unsettled=plan.unsettled,
        quarantine=quarantined,
        rewritten=tuple(sorted(n for n in names if " " not in n)),
        distrusted=info.distrusted,  # cleared when a cycle publishes this file (trust)
    ).save(path)
    return BuildResult(
        path=path,
        serial=plan.serial,
        last_change_id=plan.newest,
        incremental=True,
        reason=f"{changes} registry changes since serial {info.serial}",
        delegations=counts[0],
        signed_delegations=counts[1],
        glue_hosts=counts[2],
        orphan_hosts=len(orphans),
        owners=len(rewritten),
        quarantined=quarantined,
        newly_quarantined=new,
        released=released,
    )
