"""What a built unsigned zone file reflects, kept beside it in ``<file>.build``.

The incremental build trusts a previous file only through this record: the registry
change it includes (``last_change_id``) and the change ids that were not yet visible
then (``unsettled``, see below), the serial, the apex settings and TTLs it was built
with (``fingerprint``), its counts, and the SHA-256 and size of the file itself. A file
edited by hand, replaced, or half written never matches its record, and is rebuilt in
full.

``unsettled``: on PostgreSQL the ids of ``zone_change`` rows come from a sequence, so a
transaction can take id 104, commit after the one holding 105, and a build that saw 105
did not see 104. Each id below ``last_change_id`` that the build did not see is kept
here with the time it was first missed; the next build looks for those rows too. An id
still missing after ``GAP_HORIZON`` belongs to a transaction that rolled back (no
registry transaction runs that long) and is forgotten.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tldsec.atomicfile import replacing
from tldsec.policy import TtlPolicy
from tldsec.registry.context import RegistryRules
from tldsec.settings import ApexSettings
from tldsec.zone.quarantine import Quarantined

FORMAT = "tldsec-zonebuild 1"
SUFFIX = ".build"
GAP_HORIZON = 3600  # seconds an unseen zone_change id is looked for again


@dataclass(frozen=True, slots=True)
class BuildInfo:
    """The record of one built zone file."""

    origin: str
    serial: int
    last_change_id: int
    fingerprint: str
    sha256: str
    size: int
    delegations: int
    with_ds: int
    glue_hosts: int
    orphan_hosts: tuple[str, ...] = ()
    # Registry hosts counted as glue whose owner is an apex owner (their records come
    # from the settings, so the file does not show them).
    apex_glue_hosts: tuple[str, ...] = ()
    unsettled: dict[int, int] = field(default_factory=dict)  # change id -> first missed
    # Objects withheld from the file (zone.quarantine): their previous records, or none.
    quarantine: tuple[Quarantined, ...] = ()
    # Set when a cycle failed after a build on the file's content (the signer could
    # not read it, the gate refused it): 1, the next build reads ``rewritten`` again
    # from the database; 2 (it failed again), it builds in full. An incremental build
    # carries it; a cycle that publishes clears it (``trust``).
    distrusted: int = 0
    rewritten: tuple[str, ...] = ()  # the names an incremental build wrote again

    def save(self, path: Path) -> None:
        """Write atomically beside the zone file ``path``."""
        body = {"format": FORMAT, **asdict(self)}
        body["unsettled"] = {str(k): v for k, v in sorted(self.unsettled.items())}
        body["quarantine"] = [q.as_json() for q in self.quarantine]
        target = info_path(path)
        with replacing(target, "w", encoding="utf-8") as out:
            json.dump(body, out, indent=1, sort_keys=True)
            out.write("\n")

    @classmethod
    def load(cls, path: Path) -> BuildInfo | None:
        """The record beside the zone file ``path``; None when missing or unreadable."""
        try:
            body = json.loads(info_path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(body, dict) or body.pop("format", None) != FORMAT:
            return None
        try:
            return cls(
                origin=str(body["origin"]),
                serial=int(body["serial"]),
                last_change_id=int(body["last_change_id"]),
                fingerprint=str(body["fingerprint"]),
                sha256=str(body["sha256"]),
                size=int(body["size"]),
                delegations=int(body["delegations"]),
                with_ds=int(body["with_ds"]),
                glue_hosts=int(body["glue_hosts"]),
                orphan_hosts=tuple(str(h) for h in body["orphan_hosts"]),
                apex_glue_hosts=tuple(str(h) for h in body["apex_glue_hosts"]),
                unsettled={int(k): int(v) for k, v in body["unsettled"].items()},
                quarantine=tuple(Quarantined.from_json(q) for q in body.get("quarantine", [])),
                distrusted=int(body.get("distrusted", 0)),
                rewritten=tuple(str(n) for n in body.get("rewritten", [])),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def distrust(zone_file: Path, names: Iterable[str] = ()) -> int:
    """Mark the build record of ``zone_file`` after a cycle failed on its content, with
    ``names`` (the owners a failure named) to read again; the level reached (0: no
    record to mark)."""
    info = BuildInfo.load(zone_file)
    if info is None:
        return 0
    level = min(info.distrusted + 1, 2)
    rewritten = tuple(sorted(set(info.rewritten) | set(names)))
    replace(info, distrusted=level, rewritten=rewritten).save(zone_file)
    return level


def line_owner(zone_file: Path, line: int) -> str | None:
    """The owner name (without the final dot) of line ``line`` (1-based) of a built file."""
    try:
        with open(zone_file, encoding="ascii", errors="replace") as f:
            text = next(itertools.islice(f, line - 1, None), "")
    except OSError:
        return None
    owner = text.split(" ", 1)[0]
    return owner[:-1] if owner.endswith(".") and not text.startswith(";") else None


def trust(zone_file: Path) -> None:
    """Clear the mark ``distrust`` left, once a cycle published what was built."""
    info = BuildInfo.load(zone_file)
    if info is not None and info.distrusted:
        replace(info, distrusted=0).save(zone_file)


def info_path(zone_file: Path) -> Path:
    return zone_file.with_name(zone_file.name + SUFFIX)


def fingerprint(origin: str, apex: ApexSettings, ttl: TtlPolicy, rules: RegistryRules) -> str:
    """A digest of everything besides the registry that shapes the unsigned zone: the
    publication rules too, as a change of them can withhold objects the file holds."""
    material = {
        "origin": origin,
        "apex": asdict(apex),
        "ttl": asdict(ttl),
        "rules": [
            sorted(rules.ds.algorithms),
            sorted(rules.ds.digest_types),
            rules.ds.max_per_domain,
            rules.max_ns,
            rules.reserved.reasons,
            rules.documentation_glue,
        ],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
