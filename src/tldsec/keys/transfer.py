"""Handing the zone to another operator without going insecure (DPS 4.6): pure.

RFC 6781 4.3.5.1 (cooperating operators, no private key leaves either HSM), run as
RFC 8901 model 2 for the overlap: each operator signs its own copy with its own KSK
and ZSK, and each DNSKEY RRset carries the other's ZSK, so a resolver that mixes a
DNSKEY RRset from one operator with signatures from the other still validates. The
parent holds both operators' DS while both may be asked. The steps, each wait from
``keys/timing.py`` (RFC 7583 names):

1. ``import``: the gaining operator's DNSKEYs (its KSK and ZSK, public only) are
   recorded as foreign keys; from the next cycle our DNSKEY RRset (signed by our KSK)
   carries them. No key of ours rolls meanwhile: a new ZSK would be missing from the
   gaining operator's DNSKEY RRset (``hold_gate``).
2. ``export``: our DNSKEY RRset and DS go to the gaining operator, whose DNSKEY RRset
   must carry our ZSKs before its servers answer; its DS goes to the parent.
3. ``peer-ds``: the gaining operator's DS seen at the parent by the validated check.
4. waits: its ZSK in every cached copy of our DNSKEY RRset (Dprp + TTLkey after the
   import) and its DS in every cached DS RRset (DprpP + TTLds after it was seen).
5. ``handover``: the parent is asked to delegate to the gaining operator's servers
   only. THE POINT OF NO RETURN: from here the zone is theirs and a cancel is refused.
6. after DprpP + the parent's NS TTL no resolver asks our servers: our DS withdrawal is
   requested (we keep signing until then, so a resolver still sent to us validates).
7. ``our-ds-gone``: the ordinary ds-gone gate (validated parent check or operator).
8. ``end``: every key of ours retires and leaves; the cycle signs no more.

The foreign keys are published only: they never sign our copy and never have an HSM
object; the gate accepts them because the signing configuration lists them (a DNSKEY
in the signed file that is neither ours nor recorded is refused as before).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import dns.dnssecalgs
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zonefile
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dns.rdtypes.ANY.DNSKEY import DNSKEY

from tldsec.dnscore.dnskey import dnskey_rdata, key_tag
from tldsec.errors import TransferRefused
from tldsec.keys import state, timing
from tldsec.keys.planner import Constraint, Gate, human
from tldsec.keys.rollover import KeyBook, Outcome
from tldsec.keys.state import DsState, KeyRecord, KeyState, Role
from tldsec.policy import Algorithm, Policy
from tldsec.signconf import SEP_FLAG, ZONE_KEY_FLAG, ZoneKey

RFC = "DPS 4.6, RFC 6781 4.3.5.1, RFC 8901 2.1.2"
# The root zone serves a TLD's delegation NS RRset with TTL 172800 s (two days); a
# resolver may keep asking our servers that long after the parent switched.
PARENT_NS_TTL = timedelta(days=2)
ALLOWED_FLAGS = (ZONE_KEY_FLAG, ZONE_KEY_FLAG | SEP_FLAG)  # 256 ZSK, 257 KSK


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """A DNSKEY of the gaining operator: public only, published, never signing here."""

    flags: int
    algorithm: Algorithm
    public_key: bytes
    operator: str
    imported: datetime
    withdrawn: datetime | None = None
    key_tag: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if self.flags not in ALLOWED_FLAGS:
            raise ValueError(f"foreign DNSKEY flags {self.flags} are not 256 or 257")
        object.__setattr__(self, "key_tag", key_tag(self.dnskey_rdata))

    @property
    def role(self) -> Role:
        return Role.KSK if self.flags & SEP_FLAG else Role.ZSK

    @property
    def dnskey_rdata(self) -> bytes:
        return dnskey_rdata(self.flags, int(self.algorithm), self.public_key)

    @property
    def key_id(self) -> str:
        """How the signing configuration names it; no key store holds such an id."""
        return f"foreign:{self.key_tag}"

    @property
    def name(self) -> str:
        return f"{self.role} {self.key_tag} of {self.operator}"

    def live_at(self, when: datetime) -> bool:
        return self.imported <= when and (self.withdrawn is None or when < self.withdrawn)

    def zone_key(self) -> ZoneKey:
        """In our DNSKEY RRset, with no signing duty (RFC 8901 2.1.2: the other
        operator's ZSK is published so its signatures validate with our RRset)."""
        return ZoneKey(
            key_id=self.key_id,
            flags=self.flags,
            algorithm=self.algorithm,
            public_key=self.public_key,
            publish=True,
            sign_dnskey=False,
            sign_zone=False,
        )

    def as_record(self) -> KeyRecord:
        """A KSK as the parent check matches DS records against (its digest)."""
        return KeyRecord(
            key_id=self.key_id,
            role=self.role,
            algorithm=self.algorithm,
            bits=0,
            public_key=self.public_key,
            created=self.imported,
        )


@dataclass(frozen=True, slots=True)
class Transfer:
    """The handover's facts, as stored on the zone row and in the foreign key table."""

    operator: str
    started: datetime
    keys: tuple[ForeignKey, ...]
    peer_ds_seen: datetime | None = None
    handed_over: datetime | None = None
    ended: datetime | None = None

    def live_keys(self, when: datetime) -> tuple[ForeignKey, ...]:
        return tuple(k for k in self.keys if k.live_at(when))

    def ksks(self, when: datetime) -> tuple[ForeignKey, ...]:
        return tuple(k for k in self.live_keys(when) if k.role is Role.KSK)

    def zsks(self, when: datetime) -> tuple[ForeignKey, ...]:
        return tuple(k for k in self.live_keys(when) if k.role is Role.ZSK)


# --- importing the gaining operator's DNSKEYs ------------------------------------------------


def parse_dnskeys(text: str, origin: str, operator: str, now: datetime) -> list[ForeignKey]:
    """The DNSKEY lines of ``text`` (a BIND or ldns ``.key`` file, or the gaining
    operator's DNSKEY RRset) as foreign keys; a line that is not a zone key of ``origin``
    is refused by name."""
    try:
        rrsets = dns.zonefile.read_rrsets(
            text, origin=origin, relativize=False, default_ttl=0, rdclass=None
        )
    except (dns.exception.DNSException, ValueError) as exc:
        raise TransferRefused(f"the DNSKEY file does not parse as zone-file lines: {exc}") from exc
    apex = dns.name.from_text(origin)
    out: list[ForeignKey] = []
    for rrset in rrsets:
        if rrset.rdtype != dns.rdatatype.DNSKEY:
            raise TransferRefused(
                f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}: only DNSKEY lines are "
                "imported (the gaining operator's KSK and ZSK)"
            )
        if rrset.name != apex:
            raise TransferRefused(f"DNSKEY owner {rrset.name} is not the zone apex {origin}")
        for rd in rrset:
            assert isinstance(rd, DNSKEY)
            out.append(_foreign_key(rd, operator, now))
    if not out:
        raise TransferRefused("the file holds no DNSKEY line")
    return out


def _foreign_key(rd: DNSKEY, operator: str, now: datetime) -> ForeignKey:
    what = f"DNSKEY {rd.flags} {rd.protocol} {rd.algorithm}"
    if not rd.flags & ZONE_KEY_FLAG:
        raise TransferRefused(
            f"{what}: not a zone key (the Zone Key bit 0x0100 is unset, RFC 4034 2.1.1); "
            "only the gaining operator's KSK (257) and ZSK (256) are imported"
        )
    if rd.flags not in ALLOWED_FLAGS:
        raise TransferRefused(
            f"{what}: flags {rd.flags} are neither a ZSK (256) nor a KSK (257): a revoked "
            "or otherwise flagged key is not imported (RFC 4034 2.1.1, RFC 5011 3)"
        )
    if rd.protocol != 3:
        raise TransferRefused(f"{what}: protocol {rd.protocol} is not 3 (RFC 4034 2.1.2)")
    try:
        algorithm = Algorithm(int(rd.algorithm))
    except ValueError:
        raise TransferRefused(
            f"{what}: algorithm {int(rd.algorithm)} is not one tldsec signs with "
            f"({', '.join(str(int(a)) for a in Algorithm)})"
        ) from None
    return ForeignKey(int(rd.flags), algorithm, bytes(rd.key), operator, now)


def key_bits(key: ForeignKey) -> int:
    """The key's size (RSA modulus, or the curve's), from dnspython's DNSKEY parsing;
    a public key that does not load is refused."""
    wire = key.dnskey_rdata
    try:
        rd = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.DNSKEY, wire, 0, len(wire))
        cls = dns.dnssecalgs.get_algorithm_cls_from_dnskey(cast(DNSKEY, rd)).public_cls
        public = cast(Any, cls.from_dnskey(cast(DNSKEY, rd))).key
    except (dns.exception.DNSException, ValueError, TypeError) as exc:
        raise TransferRefused(f"{key.name}: the public key does not load: {exc}") from exc
    if isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return int(public.key_size) if isinstance(public, rsa.RSAPublicKey) else 256
    raise TransferRefused(f"{key.name}: algorithm {int(key.algorithm)} is not RSA or ECDSA")


def check_import(
    new: Sequence[ForeignKey],
    keys: Sequence[KeyRecord],
    current: Transfer | None,
    policy: Policy,
    now: datetime,
) -> None:
    """Refuse keys the zone cannot publish: an algorithm our keys do not sign with
    (RFC 4035 2.2: each algorithm of the DNSKEY RRset must sign every RRset), a size
    other than the DPS's for the role (the gate holds every DNSKEY to DPS 6.1), a key
    tag already in the zone's history or imported (RRSIGs name keys by tag), and a set
    without both a KSK (its DS goes to the parent) and a ZSK (the overlap's point)."""
    if current is not None and current.handed_over is not None:
        raise TransferRefused(
            f"the zone was handed over to {current.operator} at {current.handed_over}: "
            "nothing more is imported"
        )
    signing = {
        int(k.algorithm)
        for k in keys
        if k.state_at(now) in (KeyState.ACTIVE, KeyState.PUBLISHED, KeyState.RETIRED)
    }
    taken = {k.key_tag for k in keys} | {
        k.key_tag for k in (current.keys if current else ()) if k.withdrawn is None
    }
    seen: set[int] = set()
    for k in new:
        if int(k.algorithm) not in signing:
            raise TransferRefused(
                f"{k.name} uses algorithm {int(k.algorithm)}; the zone signs with "
                f"{', '.join(str(a) for a in sorted(signing))} only, and every algorithm of "
                "the DNSKEY RRset must sign every RRset (RFC 4035 2.2): the gaining operator "
                "uses the zone's algorithm, or the zone rolls first ('keys algorithm-rollover')"
            )
        kp = policy.ksk if k.role is Role.KSK else policy.zsk
        bits = key_bits(k)
        if int(kp.algorithm) == int(k.algorithm) and bits != kp.bits:
            raise TransferRefused(
                f"{k.name} is a {bits}-bit key; the policy's {k.role} is {kp.bits} bits "
                "(DPS 6.1), and the gate holds every DNSKEY of the zone to it"
            )
        if k.key_tag in taken or k.key_tag in seen:
            raise TransferRefused(
                f"{k.name}: key tag {k.key_tag} is already in the zone's key history or "
                "imported; RRSIGs name their key by tag, so the gaining operator makes "
                "another key"
            )
        seen.add(k.key_tag)
    roles = {k.role for k in new} | {k.role for k in (current.live_keys(now) if current else ())}
    for role in (Role.KSK, Role.ZSK):
        if role not in roles:
            raise TransferRefused(
                f"no {role} of the gaining operator among the DNSKEYs: the overlap needs its "
                "ZSK (published in our DNSKEY RRset) and its KSK (whose DS the parent holds)"
            )


# --- the steps -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransferStep:
    """One step of the handover: what, who or which command, and when."""

    name: str
    description: str
    command: str
    due: datetime | None  # None: waits on a gate or on an earlier step
    done: datetime | None = None

    def as_json(self) -> dict[str, str | None]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat().replace("+00:00", "Z") if t else None

        return {
            "step": self.name,
            "description": self.description,
            "command": self.command,
            "due": iso(self.due),
            "done": iso(self.done),
        }


def publish_interval(t: timing.TimingParams) -> timedelta:
    """The gaining operator's ZSK is in every cached copy of our DNSKEY RRset."""
    return timing.zsk_publish_interval(t)


def ns_interval(t: timing.TimingParams) -> timedelta:
    """DprpP + the parent's NS TTL: after the delegation moved, no resolver asks us."""
    return t.parent_propagation_delay + max(PARENT_NS_TTL, t.parent_ds_ttl) + t.safety_margin


def handover_due(tr: Transfer, t: timing.TimingParams) -> datetime | None:
    """When the handover may be made; None until the gaining operator's DS is seen."""
    if tr.peer_ds_seen is None:
        return None
    return max(tr.started + publish_interval(t), tr.peer_ds_seen + timing.ds_publish_interval(t))


def steps(
    tr: Transfer, keys: Sequence[KeyRecord], t: timing.TimingParams, now: datetime
) -> list[TransferStep]:
    """Every step of the handover, done or to come, with its computed time."""
    op = tr.operator
    theirs = ", ".join(f"{k.role} {k.key_tag}" for k in tr.live_keys(now)) or "none"
    ours_zsk = ", ".join(str(k.key_tag) for k in keys if k.role is Role.ZSK and k.publishes_at(now))
    published = tr.started + publish_interval(t)
    ds_cached = (
        tr.peer_ds_seen + timing.ds_publish_interval(t) if tr.peer_ds_seen is not None else None
    )
    out = [
        TransferStep(
            "import",
            f"{op}'s DNSKEYs ({theirs}) recorded; our DNSKEY RRset carries them from the "
            "next cycle",
            "tldsec keys transfer import-dnskey FILE --operator NAME",
            tr.started,
            tr.started,
        ),
        TransferStep(
            "export",
            f"{op} publishes our ZSK ({ours_zsk}) in its DNSKEY RRset before its servers "
            "answer, and asks the parent to add its DS",
            f"tldsec keys transfer export (sent to {op})",
            tr.started,
        ),
        TransferStep(
            "theirs-cached",
            f"{op}'s ZSK in every cached copy of our DNSKEY RRset: Dprp + TTLkey = "
            f"{human(publish_interval(t))} after the import",
            "wait",
            published,
            published if now >= published else None,
        ),
        TransferStep(
            "peer-ds",
            f"{op}'s DS ({', '.join(str(k.key_tag) for k in tr.ksks(now))}) seen at the "
            "parent by the validated check",
            "tldsec keys transfer check-parent",
            None,
            tr.peer_ds_seen,
        ),
        TransferStep(
            "peer-ds-cached",
            f"{op}'s DS in every cached DS RRset: DprpP + TTLds = "
            f"{human(timing.ds_publish_interval(t))} after it was seen",
            "wait",
            ds_cached,
            ds_cached if ds_cached is not None and now >= ds_cached else None,
        ),
        TransferStep(
            "handover",
            f"the parent is asked to delegate to {op}'s servers only. POINT OF NO RETURN: "
            "the zone is theirs from here, no cancel",
            "tldsec keys transfer handover",
            handover_due(tr, t),
            tr.handed_over,
        ),
    ]
    ns_gone = tr.handed_over + ns_interval(t) if tr.handed_over is not None else None
    ksks = [k for k in keys if k.role is Role.KSK and k.ds_submitted is not None]
    withdrawn = [k.ds_withdrawn for k in ksks if k.ds_withdrawn is not None]
    all_gone = bool(ksks) and len(withdrawn) == len(ksks)
    requested = [k.ds_withdrawal_requested for k in ksks if k.ds_withdrawal_requested]
    out += [
        TransferStep(
            "our-ds-withdrawal",
            "no resolver asks our servers (DprpP + the parent's NS TTL = "
            f"{human(ns_interval(t))} after the handover): the parent is asked to remove "
            "our DS; we sign until then",
            "automatic (the cycle)",
            ns_gone,
            max(requested) if requested and tr.handed_over is not None else None,
        ),
        TransferStep(
            "our-ds-gone",
            "our DS confirmed gone from the parent",
            "tldsec keys check-parent (or keys ds-gone TAG)",
            None,
            max(withdrawn) if all_gone and tr.handed_over is not None else None,
        ),
        TransferStep(
            "end",
            "every key of ours retires and leaves; the cycle signs no more; stop serving "
            "and distributing the zone",
            "automatic (the cycle)",
            None,
            tr.ended,
        ),
        TransferStep(
            "their-cleanup",
            f"{op} may drop our ZSK from its DNSKEY RRset once no cache holds our "
            f"signatures: TTLsig + Dprp after our DS withdrawal ({human(t.max_zone_ttl)})",
            f"{op}",
            (max(requested) + t.max_zone_ttl + t.propagation_delay + t.safety_margin)
            if requested and tr.handed_over is not None
            else None,
        ),
    ]
    return out


def hold_gate(tr: Transfer) -> Gate:
    """While the zone is being handed over no new key enters it: the gaining operator's
    DNSKEY RRset carries only the ZSKs it was given (RFC 8901 2.1.2)."""

    def gate(key: KeyRecord) -> tuple[Constraint, ...]:
        return (
            Constraint(
                "transfer",
                f"the zone is being handed to {tr.operator} ('tldsec keys transfer status'): "
                f"{key.name} stays out of the zone, which the other operator's DNSKEY RRset "
                "would lack",
                None,
            ),
        )

    return gate


# --- the handover and what follows ---------------------------------------------------------


def check_handover(
    tr: Transfer | None, t: timing.TimingParams, now: datetime, peer_served: bool
) -> Transfer:
    """Refuse the handover unless the gaining operator's DS is at the parent now (the
    validated check: ``peer_served``) and every cache has had time to learn its keys."""
    if tr is None:
        raise TransferRefused("no transfer under way: 'tldsec keys transfer import-dnskey' first")
    if tr.handed_over is not None:
        raise TransferRefused(f"the zone was already handed over at {tr.handed_over}")
    if tr.peer_ds_seen is None or not peer_served:
        tags = ", ".join(str(k.key_tag) for k in tr.ksks(now))
        raise TransferRefused(
            f"{tr.operator}'s DS (KSK {tags}) is not seen at the parent by the validated "
            "check: the handover would leave resolvers sent to its servers without a DS "
            "for its keys ('tldsec keys transfer check-parent')"
        )
    due = handover_due(tr, t)
    assert due is not None
    if now < due:
        raise TransferRefused(
            f"too early: caches may not hold {tr.operator}'s DS and ZSK yet; the handover "
            f"is possible from {due.isoformat()} ('tldsec keys transfer status')"
        )
    return tr


def due_after_handover(
    tr: Transfer, keys: Sequence[KeyRecord], t: timing.TimingParams, now: datetime
) -> str | None:
    """What ``after_handover`` would do at ``now``, said for a person; None if nothing."""
    outcome, end = after_handover(tr, keys, t, now)
    if end:
        return f"the end of our role: the zone belongs to {tr.operator}, every key retires"
    if outcome.transitions:
        return f"the withdrawal of our DS: the zone was handed to {tr.operator}"
    return None


def after_handover(
    tr: Transfer, keys: Sequence[KeyRecord], t: timing.TimingParams, now: datetime
) -> tuple[Outcome, bool]:
    """What is due after the handover: our DS withdrawal once no resolver asks us, and
    the end (every key retires and leaves) once our DS is gone. ``True``: ended now."""
    book = KeyBook(keys)
    if tr.handed_over is None or tr.ended is not None:
        return book.outcome(), False
    ksks = [k for k in keys if k.role is Role.KSK]
    if now >= tr.handed_over + ns_interval(t):
        why = f"the zone was handed to {tr.operator}; no resolver asks our servers ({RFC})"
        for k in ksks:
            if k.ds_state_at(now) in (DsState.SUBMITTED, DsState.SEEN):
                book.apply(state.request_ds_withdrawal(k, now, why, handed_over=True))
    current = [book.get(k.key_id) for k in ksks]
    gone = all(k.ds_submitted is None or k.ds_state_at(now) is DsState.WITHDRAWN for k in current)
    if not gone or now < tr.handed_over + ns_interval(t):
        return book.outcome(), False
    why = f"the zone belongs to {tr.operator} now and our DS is gone ({RFC})"
    for k in keys:
        rec = book.get(k.key_id)
        st = rec.state_at(now)
        if st in (None, KeyState.REMOVED):
            continue
        if st in (KeyState.ACTIVE, KeyState.PRESIGNING, KeyState.UNPUBLISHED):
            if st is not KeyState.ACTIVE:
                raise TransferRefused(f"{rec.name} is {st}: an algorithm rollover is under way")
            rec = book.apply(state.retire(rec, now, why))
        book.apply(state.remove(rec, now, why))
    return book.outcome(), True
