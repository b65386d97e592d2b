"""Per-object fault isolation in the zone build (DPS 3.5.2: one bad object must not
stop the zone, nor hold back every other registrar's change).

Every delegation and every glue host the builder is about to write is first checked
with the rules EPP applies (``registry/publishable.py``). One that breaks a rule is
*quarantined*: instead of its database rows, the zone keeps the records the previous
build published at that owner (or none, when it had none), and the rest of the zone is
built as usual. A reserved name is never kept: a delegation there cuts off the TLD's own
services (``registry/reserved.py``).

An owner whose registry rows differ from the registry's own digest of what its
services wrote there (``registry/zonedigest``, decision 42: a row edited outside the
registry) is quarantined the same way, rule ``registry-ledger``, when the build is asked
to check (``suspects``); it leaves the quarantine when the rows match the digest again,
or when an operator vouches for them (``tldsec zone quarantine release``).

The quarantine is part of the build record (``zone.buildinfo``). Each build evaluates
the quarantined objects again from the database, so a row fixed in the database leaves
the quarantine at the next build, with or without a ``zone_change`` row; ``resolved``
lets the cycle see that without building.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from tldsec.registry import zonedigest
from tldsec.registry.context import RegistryRules
from tldsec.registry.ds_rules import DsData
from tldsec.registry.publishable import Fault, Publishable
from tldsec.zone import owners

KINDS = ("domain", "host")
LEDGER = "registry-ledger"  # the rule an owner breaks whose rows differ from the digest
Kept = Callable[[str], list[str]]  # absolute owner -> its record lines in the previous file


@dataclass(frozen=True, slots=True)
class Quarantined:
    """An object withheld from the zone: which, the rules it breaks, since when."""

    kind: str  # "domain" (its NS and DS) or "host" (its glue)
    name: str
    rules: tuple[str, ...]
    message: str
    since: int  # epoch seconds of the build that first quarantined it
    kept: bool  # its previously published records stay in the zone

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "rules": list(self.rules),
            "message": self.message,
            "since": self.since,
            "kept": self.kept,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Quarantined:
        kind = str(data["kind"])
        if kind not in KINDS:
            raise ValueError(f"unknown quarantined object kind {kind!r}")
        return cls(
            kind=kind,
            name=str(data["name"]),
            rules=tuple(str(r) for r in data["rules"]),
            message=str(data["message"]),
            since=int(data["since"]),
            kept=bool(data["kept"]),
        )


class Isolation:
    """One build's checks: what to publish per object, and the quarantine that results."""

    def __init__(
        self,
        rules: RegistryRules,
        *,
        before: Iterable[Quarantined] = (),
        kept: Kept | None = None,
        now: int = 0,
        suspects: Mapping[str, str] | None = None,
    ) -> None:
        self.check = Publishable(rules)
        self.suspects = suspects or {}  # name -> why its rows are not the registry's
        self.before = {q.key: q for q in before}
        self.kept = kept
        self.now = now
        self.found: dict[tuple[str, str], Quarantined] = {}

    def domain(
        self, name: str, ns: list[str], ds: list[DsData]
    ) -> tuple[list[str], list[str]] | None:
        """The delegation to publish for ``name``: its NS host names and DS RDATA, from
        the database when it passes, else the previous build's, else None."""
        faults = self.check.delegation(name, ns, ds)
        if name in self.suspects:
            faults.append(Fault(LEDGER, self.suspects[name]))
        if not faults:
            return ns, [r.presentation() for r in ds]
        kept = None
        if not any(f.rule == "reserved" for f in faults):
            kept = self._kept_delegation(name)
        self._quarantine("domain", name, faults, kept is not None)
        return kept

    def glue(self, name: str, addresses: list[tuple[int, str]]) -> list[tuple[int, str]] | None:
        """The glue to publish for host ``name``: its addresses when they pass, else the
        previous build's, else None."""
        faults = self.check.glue(name, addresses)
        if name in self.suspects:
            faults.append(Fault(LEDGER, self.suspects[name]))
        if not faults:
            return addresses
        kept = self._kept_glue(name)
        self._quarantine("host", name, faults, kept is not None)
        return kept

    def vanished_domain(self, name: str) -> tuple[list[str], list[str]] | None:
        """A suspect owner the registry's rows no longer delegate (deleted, renamed or put
        on hold with SQL): the previous build's delegation stays, quarantined; an owner
        that had nothing is quarantined too (left out), so that it counts as withheld."""
        kept = self._kept_delegation(name)
        if kept is not None or self._kept_glue(name) is None:
            self._quarantine("domain", name, [Fault(LEDGER, self.suspects[name])], kept is not None)
        return kept

    def vanished_glue(self, name: str) -> list[tuple[int, str]] | None:
        """A suspect owner whose glue the registry's rows no longer give: the previous
        build's stays, quarantined."""
        kept = self._kept_glue(name)
        if kept is not None:
            self._quarantine("host", name, [Fault(LEDGER, self.suspects[name])], True)
        return kept

    def result(
        self, evaluated: Callable[[str, str], bool] | None = None
    ) -> tuple[tuple[Quarantined, ...], tuple[Quarantined, ...], tuple[Quarantined, ...]]:
        """(the quarantine now, the entries new in it, the entries that left it).
        ``evaluated(kind, name)``: whether this build looked at an object again (None:
        every object, a full build); an entry it did not look at stays."""
        now = dict(self.found)
        released = []
        for key, old in self.before.items():
            if key in now:
                continue
            if evaluated is None or evaluated(*key):
                released.append(old)
            else:
                now[key] = old
        new = [q for key, q in now.items() if key not in self.before]
        return _sorted(now.values()), _sorted(new), _sorted(released)

    def _quarantine(self, kind: str, name: str, faults: list[Fault], kept: bool) -> None:
        old = self.before.get((kind, name))
        self.found[(kind, name)] = Quarantined(
            kind=kind,
            name=name,
            rules=tuple(dict.fromkeys(f.rule for f in faults)),
            message="; ".join(f.message for f in faults),
            since=old.since if old is not None else self.now,
            kept=kept,
        )

    def _lines(self, name: str) -> list[str]:
        if self.kept is None or " " in name:
            return []
        return self.kept(name + ".")

    def _kept_delegation(self, name: str) -> tuple[list[str], list[str]] | None:
        ns, ds = [], []
        for line in self._lines(name):
            fields = line.split(" ", 4)
            if fields[3] == "NS":
                ns.append(fields[4][:-1])
            elif fields[3] == "DS":
                ds.append(fields[4])
        return (ns, ds) if ns else None

    def _kept_glue(self, name: str) -> list[tuple[int, str]] | None:
        addresses = []
        for line in self._lines(name):
            fields = line.split(" ", 4)
            if fields[3] in ("A", "AAAA"):
                addresses.append((4 if fields[3] == "A" else 6, fields[4]))
        return addresses or None


def _sorted(entries: Iterable[Quarantined]) -> tuple[Quarantined, ...]:
    return tuple(sorted(entries, key=lambda q: (q.name, q.kind)))


def resolved(
    session: Session, rules: RegistryRules, entries: Iterable[Quarantined], zone_id: int
) -> list[Quarantined]:
    """The quarantined objects the database now lets go: valid again, or no longer
    published at all (deleted, on hold, without addresses). A few rows per entry; an
    object named here is released by the next build (the build lets go of more: a host
    no published delegation uses)."""
    entries = list(entries)
    if not entries:
        return []
    check = Publishable(rules)
    domains = owners.domains(session, [q.name for q in entries if q.kind == "domain"], zone_id)
    # Every host with addresses, used or not: a host the build still holds (a withheld
    # domain's kept name server) must not look resolved here, or cycles would repeat.
    hosts = owners.glue_hosts(
        session, [q.name for q in entries if q.kind == "host"], zone_id, used_only=False
    )
    # Held for differing from the registry's digest: until the rows match it again.
    owned = [f"{q.name}." for q in entries if LEDGER in q.rules]
    differ = {o[:-1] for o in zonedigest.differing(session, owned)} if owned else set()
    out = []
    for q in entries:
        if q.name in differ:
            continue
        if q.kind == "domain":
            state = domains.get(q.name)
            if state is None or not check.delegation(q.name, state.ns, state.records):
                out.append(q)
        else:
            host = hosts.get(q.name)
            if host is None or not check.glue(q.name, host.addresses):
                out.append(q)
    return out


def ledger_suspects(
    session: Session, names: Iterable[str] | None, zone: tuple[int, str]
) -> dict[str, str]:
    """Of ``names`` (registry form; None: every owner of ``zone``, its id and origin),
    those whose registry rows differ from the registry's digest of them
    (``zonedigest``), with why."""
    owners = None if names is None else [f"{n}." for n in names if " " not in n]
    return {
        o[:-1]: (
            f"{o[:-1]!r}: the registry's rows differ from the registry's digest of what "
            "its services wrote there (edited outside the registry?)"
        )
        for o in zonedigest.differing(session, owners, zone=zone)
    }
