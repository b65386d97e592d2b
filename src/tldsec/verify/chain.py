"""Check "chain-of-trust": from the parent's DS set to the apex DNSKEY RRset (DPS 6.6).

The trust anchor is what the root zone publishes for us: DS records (RFC 4034 5), or
DNSKEY records for an operator who pins keys. The chain holds when a DS matches a key
of the apex DNSKEY RRset (key tag, algorithm, digest over owner | RDATA, RFC 4034
5.1.4) and that key's RRSIG over the DNSKEY RRset is valid now (RFC 4035 5.2). A DS
for a key that is not (yet, or any more) in the zone is normal during a KSK rollover
(RFC 7583 3.3): it is a note, not a failure, as long as another DS holds the chain.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tldsec.dnscore import names
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import Zone
from tldsec.errors import ZoneSyntaxError
from tldsec.verify.keys import DnsKey, KeySet
from tldsec.verify.report import CheckResult, Finding, since
from tldsec.verify.rrsig import SignatureContext, check_rrsig, parse_rrsig
from tldsec.verify.zoneread import read_zone_file

NAME = "chain-of-trust"
# RFC 4034 5.1.3, RFC 4509, RFC 6605: DS digest types and their hashes.
DIGESTS: dict[int, Callable[[bytes], hashlib._Hash]] = {
    1: hashlib.sha1,
    2: hashlib.sha256,
    4: hashlib.sha384,
}


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    """The DS and/or DNSKEY RDATAs trusted for the zone's apex."""

    ds: tuple[bytes, ...] = ()
    dnskeys: tuple[bytes, ...] = ()
    source: str = "<anchor>"

    def __post_init__(self) -> None:
        if not self.ds and not self.dnskeys:
            raise ValueError(f"{self.source}: no DS or DNSKEY record for the zone apex")


def load_trust_anchor(path: Path, origin: str) -> TrustAnchor:
    """DS and DNSKEY records for ``origin`` from a zone-file-format file."""
    zone = read_zone_file(path, origin).zone
    ds = zone.get(zone.origin, RRType.DS)
    keys = zone.get(zone.origin, RRType.DNSKEY)
    others = [
        names.to_text(owner)
        for owner, node in zone.nodes.items()
        if owner != zone.origin or any(r.rtype not in (RRType.DS, RRType.DNSKEY) for r in node)
    ]
    if others:
        raise ZoneSyntaxError(
            str(path),
            None,
            f"a trust anchor file holds only DS or DNSKEY records for {origin}; "
            f"found records at {', '.join(sorted(others)[:3])}",
        )
    try:
        return TrustAnchor(
            ds=tuple(ds.rdatas) if ds else (),
            dnskeys=tuple(keys.rdatas) if keys else (),
            source=str(path),
        )
    except ValueError as exc:
        raise ZoneSyntaxError(str(path), None, str(exc)) from exc


def check_chain_from_file(
    zone: Zone, anchor_file: Path, origin: str, ctx: SignatureContext
) -> CheckResult:
    """``check_chain`` with the anchor read from a file; an unusable file fails the check."""
    t0 = time.perf_counter()
    try:
        anchor = load_trust_anchor(anchor_file, origin)
    except ZoneSyntaxError as exc:
        return CheckResult.from_findings(
            NAME, [Finding("", "", f"trust anchor unusable: {exc}")], since(t0)
        )
    return check_chain(zone, anchor, ctx)


def ds_matches(origin: bytes, key: DnsKey, ds: bytes) -> bool:
    """RFC 4034 5.1.4: key tag, algorithm and digest(owner | DNSKEY RDATA) agree."""
    if len(ds) < 5:
        return False
    tag, alg, dtype = int.from_bytes(ds[:2], "big"), ds[2], ds[3]
    fn = DIGESTS.get(dtype)
    if fn is None or tag != key.tag or alg != key.algorithm:
        return False
    return fn(origin + key.rdata).digest() == ds[4:]


def check_chain(zone: Zone, anchor: TrustAnchor, ctx: SignatureContext) -> CheckResult:
    """The chain of trust from the anchor to the apex DNSKEY RRset, valid at ``ctx.now``."""
    t0 = time.perf_counter()
    origin = zone.origin
    apex = names.to_text(origin)
    findings: list[Finding] = []
    notes: list[str] = []
    dnskey = zone.get(origin, RRType.DNSKEY)
    if dnskey is None:
        return CheckResult.from_findings(
            NAME, [Finding(apex, "DNSKEY", "the apex has no DNSKEY RRset")], since(t0)
        )
    keys = KeySet.from_rdatas(dnskey.rdatas)
    anchored: dict[bytes, DnsKey] = {}
    for ds in anchor.ds:
        tag, alg = int.from_bytes(ds[:2], "big"), ds[2] if len(ds) > 2 else 0
        digest_type = ds[3] if len(ds) > 3 else 0
        if digest_type not in DIGESTS:
            notes.append(f"DS {tag} uses digest type {digest_type}, which is not checked")
            continue
        match = [k for k in keys.find(alg, tag) if ds_matches(origin, k, ds)]
        if match:
            anchored.setdefault(match[0].rdata, match[0])
        else:
            notes.append(f"DS {tag} (algorithm {alg}) matches no key in the apex DNSKEY RRset")
    for rd in anchor.dnskeys:
        match = [k for k in keys.keys if k.rdata == rd]
        if match:
            anchored.setdefault(match[0].rdata, match[0])
        else:
            tag = KeySet.from_rdatas([rd]).keys[0].tag
            notes.append(f"anchor DNSKEY {tag} is not in the apex DNSKEY RRset")
    if not anchored:
        tags = ", ".join(
            [str(int.from_bytes(d[:2], "big")) for d in anchor.ds]
            + [str(KeySet.from_rdatas([d]).keys[0].tag) for d in anchor.dnskeys]
        )
        findings.append(
            Finding(apex, "DNSKEY", f"the trust anchor ({tags}) matches no key of the zone")
        )
        return CheckResult.from_findings(NAME, findings, since(t0), notes)
    # RFC 4035 5.2: the anchored key must itself sign the DNSKEY RRset, validly now (the
    # DPS numbers of that RRSIG are the "signatures" check's).
    now_ctx = dataclasses.replace(ctx, keys=keys, horizon=ctx.now, rules=None)
    chained: list[DnsKey] = []
    problems: list[Finding] = []
    for key in anchored.values():
        if not key.is_zone_key or key.is_revoked or key.problem:
            why = key.problem or "not a zone key, or revoked"
            problems.append(Finding(apex, "DNSKEY", f"anchored key {key.tag}: {why}"))
            continue
        if not key.is_sep:
            notes.append(f"anchored key {key.tag} lacks the SEP flag (RFC 4034 2.1.1)")
        sigs = [s for s in dnskey.sigs if _made_by(s, key)]
        if not sigs:
            problems.append(
                Finding(
                    apex,
                    "DNSKEY",
                    f"the anchored {key.describe()} has no RRSIG over the DNSKEY RRset",
                )
            )
            continue
        verdicts = [check_rrsig(dnskey, s, now_ctx) for s in sigs]
        if all(verdicts):
            reasons = [p for v in verdicts for p in v]
            problems.append(
                Finding(
                    apex,
                    "DNSKEY",
                    f"the RRSIG of the anchored {key.describe()} over the DNSKEY RRset is "
                    "not valid now: " + "; ".join(reasons),
                )
            )
            continue
        chained.append(key)
    if chained:
        notes.append("chain of trust holds through " + ", ".join(k.describe() for k in chained))
        notes.extend(f"also: {p}" for p in problems)
        return CheckResult.from_findings(NAME, [], since(t0), notes)
    return CheckResult.from_findings(NAME, problems, since(t0), notes)


def _made_by(sig: bytes, key: DnsKey) -> bool:
    try:
        f = parse_rrsig(sig)
    except ValueError:
        return False
    return f.algorithm == key.algorithm and f.key_tag == key.tag
