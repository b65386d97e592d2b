"""Full or incremental: which verification the gate runs on a candidate, and why.

``decide`` allows the incremental mode only on top of a zone this gate verified and
published itself (its record, ``zonefiles.Verified``), under the conditions of
docs/verify.md, "When it runs"; anything else is a full verification, with the reason in
the report. A patch there for the previous zone that cannot be read refuses the
candidate (fail closed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tldsec.dnscore.types import RRType
from tldsec.dnscore.zonepatch import ZonePatch, ZonePatchError, patch_path
from tldsec.errors import DigestMismatch, ZoneSyntaxError
from tldsec.filedigest import Checked, check_file
from tldsec.verify.options import VerifyOptions, VerifyRequest
from tldsec.verify.zoneread import read_zone_string
from tldsec.zonefiles import Verified

FULL = "full"
INCREMENTAL = "incremental"
_APEX_READ = 1 << 20  # the apex is within the first MiB of a signed zone


@dataclass(frozen=True, slots=True)
class Decision:
    """The mode, why, and for the incremental mode the patch (or why it is unusable)."""

    mode: str
    reason: str
    patch: ZonePatch | str | None = None
    # The previous zone differs from its recorded digest: an incident (DPS 4.5.1).
    previous_damaged: str | None = None
    previous_checked: Checked | None = None


def fingerprint(request: VerifyRequest, options: VerifyOptions, zone_file: Path) -> str:
    """What the unchanged bytes were verified against: the DNSKEY RRset, the NSEC3PARAM,
    the trust anchor, the signing duties, the DPS numbers (``dpsrules``), the horizon."""
    h = hashlib.sha256()
    try:
        with open(zone_file, "rb") as f:
            head = f.read(_APEX_READ)
        apex_lines = [
            line
            for line in head.decode("utf-8", "replace").splitlines()
            if line.split("\t", 1)[0].lower() == request.origin.lower().rstrip(".") + "."
        ]
        zone = read_zone_string("\n".join(apex_lines) + "\n", request.origin).zone
        for rtype in (RRType.DNSKEY, RRType.NSEC3PARAM):
            rrset = zone.get(zone.origin, rtype)
            for rd in sorted(rrset.rdatas if rrset else []):
                h.update(b"%d:" % rtype + rd)
        h.update(request.trust_anchor.read_bytes())
    except (OSError, ZoneSyntaxError) as exc:
        return f"unreadable: {exc}"
    e = options.expected
    duties = (sorted(e.zone), sorted(e.dnskey), sorted(e.published)) if e is not None else None
    h.update(repr((duties, options.rules, options.horizon_delta())).encode())
    return h.hexdigest()


def decide(
    request: VerifyRequest,
    options: VerifyOptions,
    now: datetime,
    state: Verified | None,
    candidate: Path,
    *,
    previous_checked: Checked | None = None,
) -> Decision:
    """Which mode to run on ``candidate`` (the file the signer wrote, not a staged copy).

    ``previous_checked``: the caller proved the previous file equal to its digest record
    already in this process (the cycle does, before the signer reuses it); it is taken
    only if the file has not been touched since."""
    if not options.incremental:
        return Decision(FULL, "incremental verification is off ([verify] incremental = false)")
    previous = request.previous
    if previous is None:
        return Decision(FULL, "no previous verified zone given")
    path = request.patch or patch_path(candidate)
    if not path.exists():
        return Decision(FULL, f"no zone patch beside the candidate ({path.name})")
    try:
        patch: ZonePatch | str = ZonePatch.load(path)
    except ZonePatchError as exc:
        patch = str(exc)
    if isinstance(patch, ZonePatch) and patch.previous != previous.name:
        return Decision(
            FULL,
            f"the zone patch is from {patch.previous}, not from the previous verified zone "
            f"{previous.name}",
        )
    if state is None or not state.describes(previous):
        return Decision(
            FULL, f"no record that this gate verified and published {previous.name} as it is now"
        )
    if not state.cuttable:
        return Decision(FULL, f"{previous.name} cannot be cut at owners below the apex")
    full_at = datetime.fromisoformat(state.full_at.replace("Z", "+00:00"))
    every = timedelta(hours=options.full_every_hours)
    if now - full_at >= every:
        return Decision(
            FULL,
            f"the last full verification was at {state.full_at}: one is due every "
            f"{options.full_every_hours:g} h ([verify] full_every_hours)",
        )
    if options.full_every_cycles and state.since_full + 1 >= options.full_every_cycles:
        return Decision(
            FULL,
            f"{state.since_full} incremental verifications since the full one at "
            f"{state.full_at}: one is due every {options.full_every_cycles} cycles "
            "([verify] full_every_cycles)",
        )
    if fingerprint(request, options, candidate) != state.fingerprint:
        return Decision(
            FULL,
            "the keys or what they are checked against changed (DNSKEY RRset, NSEC3PARAM, "
            "trust anchor, signing duties or policy)",
        )
    try:
        checked = check_file(previous, seen=previous_checked)
    except DigestMismatch as exc:
        return Decision(
            FULL,
            f"the previous zone is not the bytes this gate verified ({exc})",
            previous_damaged=str(exc),
        )
    if state.sha256 and checked.sha256 != state.sha256:
        problem = f"{previous} and its digest record differ from the gate's state"
        return Decision(FULL, problem, previous_damaged=problem)
    return Decision(
        INCREMENTAL,
        f"a zone patch from {previous.name}, verified at {state.verified_at} "
        f"(last full verification {state.full_at}, {state.since_full} incremental since; "
        "its digest checked)",
        patch,
        previous_checked=checked,
    )
