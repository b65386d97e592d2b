"""Full or incremental: which verification the gate runs on a candidate, and why.

The incremental mode (``incremental``) is sound only on top of a zone this gate verified
and published itself. After every pass the gate writes ``verify-state.json`` beside the
published file: which file it published (name, size, inode, modification time), its
serial, how it was verified, when the last full verification was and how many
incremental ones followed it, whether the file can be cut at owners below the apex, and
a fingerprint of everything the unchanged bytes were verified against (the DNSKEY
RRset, the NSEC3PARAM, the trust anchor, the signing duties, the DPS numbers the zone
is checked against (``dpsrules``), the horizon). The next candidate is verified
incrementally only if

* ``[verify] incremental`` is on, the request names the previous zone and a patch lies
  beside the candidate (``<candidate>.patch``) made from that very file (by name);
* the record describes that file exactly, and says it can be cut;
* the last full verification is less than ``full_every_hours`` old and fewer than
  ``full_every_cycles`` incremental runs followed it;
* the fingerprint is unchanged (a key rollover step, a new trust anchor or a policy
  change brings a full verification);
* the previous file is, byte for byte, what this gate verified: its SHA-256 equals the
  digest recorded when it was published (``filedigest``; bit rot or an edit in place
  with size and modification time restored brings a full verification, reported as an
  incident).

Anything else gives a full verification, with the reason in the report. A patch that is
there for this previous zone but cannot be read refuses the candidate (fail closed).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tldsec.atomicfile import replacing
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zonepatch import ZonePatch, ZonePatchError, patch_path
from tldsec.errors import DigestMismatch, ZoneSyntaxError
from tldsec.filedigest import Checked, check_file
from tldsec.verify.options import VerifyOptions, VerifyRequest
from tldsec.verify.zoneread import read_zone_string
from tldsec.zonefiles import ZoneFiles

FORMAT = "tldsec-verify-state 1"
FULL = "full"
INCREMENTAL = "incremental"
_APEX_READ = 1 << 20  # the apex is within the first MiB of a signed zone


@dataclass(frozen=True, slots=True)
class Verified:
    """How the published zone file was verified."""

    zone_file: str  # its name in the publication directory
    size: int
    inode: int
    mtime_ns: int
    serial: int | None
    mode: str
    verified_at: str  # ISO 8601 UTC
    full_at: str  # the last full verification this one builds on
    since_full: int  # incremental verifications since then
    fingerprint: str
    cuttable: bool  # owners grouped, labels below the apex in canonical order
    sha256: str = ""  # of the published bytes (also in ``<zone>.sha256``)

    def describes(self, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        return (self.zone_file, self.size, self.inode, self.mtime_ns) == (
            path.name,
            st.st_size,
            st.st_ino,
            st.st_mtime_ns,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The mode, why, and for the incremental mode the patch (or why it is unusable)."""

    mode: str
    reason: str
    patch: ZonePatch | str | None = None
    # The previous zone differs from its recorded digest: an incident (DPS 4.5.1).
    previous_damaged: str | None = None
    previous_checked: Checked | None = None


def state_path(published: Path) -> Path:
    return ZoneFiles(published).verify_state


def load_state(path: Path) -> Verified | None:
    try:
        body = json.loads(path.read_text("utf-8"))
        if body.pop("format") != FORMAT:
            return None
        return Verified(**body)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def save_state(path: Path, state: Verified) -> None:
    """Write atomically beside the published zone."""
    with replacing(path, "w", encoding="utf-8", fsync=False) as out:
        json.dump({"format": FORMAT, **asdict(state)}, out, indent=1)


def fingerprint(request: VerifyRequest, options: VerifyOptions, zone_file: Path) -> str:
    """What the unchanged bytes were verified against (see the module docstring)."""
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


def next_state(
    decision: Decision,
    published: Path,
    serial: int | None,
    now: datetime,
    fp: str,
    cuttable: bool,
    previous: Verified | None,
    sha256: str = "",
) -> Verified:
    """The record of a zone that passed and was published."""
    st = published.stat()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    incremental = decision.mode == INCREMENTAL and previous is not None
    return Verified(
        zone_file=published.name,
        size=st.st_size,
        inode=st.st_ino,
        mtime_ns=st.st_mtime_ns,
        serial=serial,
        mode=decision.mode,
        verified_at=stamp,
        full_at=previous.full_at if incremental and previous else stamp,
        since_full=previous.since_full + 1 if incremental and previous else 0,
        fingerprint=fp,
        cuttable=cuttable,
        sha256=sha256,
    )
