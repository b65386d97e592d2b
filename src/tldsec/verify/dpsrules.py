"""The DPS numbers a signed zone must show (DPS 6.1-6.7), as the gate checks them.

They come from the policy the verifier is given, never from the key store or the
signing configuration. For the policy named ``dps`` the numbers the DPS states itself
(algorithm, key sizes, signature validity, TTLs, no opt-out) are taken from
``tldsec.dpsnumbers``, whatever the policy file says; the rest (NSEC3 iterations and
salt, RFC 9276, and the inception offset that allows for resolvers' clock skew) are the
policy's. A policy with another name may deviate, and its own values are the rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from tldsec.dpsnumbers import DPS
from tldsec.policy import DenialPolicy, KeyPolicy, Policy, TtlPolicy
from tldsec.verify.keys import parse_dnskey

KSK_FLAGS = 257  # Zone Key + SEP (RFC 4034 2.1.1): what the key manager gives a KSK
ZSK_FLAGS = 256  # Zone Key: what it gives a ZSK; REVOKE (RFC 5011) is never used
DNSKEY_PROTOCOL = 3  # RFC 4034 2.1.2
DPS_POLICY = "dps"


@dataclass(frozen=True, slots=True)
class KeyRule:
    """What every DNSKEY of one role must be (DPS 6.1)."""

    role: str  # "KSK" or "ZSK"
    flags: int
    algorithm: int
    bits: int
    # (algorithm, bits) of an algorithm rollover's other keys of this role (RFC 6781
    # 4.1.4), as the signing configuration names them; never for the dps policy
    rollover: tuple[tuple[int, int], ...] = ()

    def allows(self, algorithm: int, bits: int) -> bool:
        """Whether a key of this role may have this algorithm and size."""
        return (algorithm, bits) == (self.algorithm, self.bits) or (
            algorithm,
            bits,
        ) in self.rollover

    @property
    def algorithms(self) -> frozenset[int]:
        return frozenset({self.algorithm, *(a for a, _ in self.rollover)})


@dataclass(frozen=True, slots=True)
class DpsRules:
    """The numbers of DPS 6.1-6.7 that can be read from a signed zone."""

    policy: str  # the policy's name: "dps", or one that may deviate
    ksk: KeyRule
    zsk: KeyRule
    validity_min: int  # seconds an RRSIG is valid, expiration - inception (DPS 6.5)
    validity_max: int
    skew: int  # an inception at least this long before now (the inception offset)
    denial: DenialPolicy  # NSEC3PARAM and every NSEC3 (DPS 6.2, RFC 9276)
    ttl: TtlPolicy  # DPS 6.7

    def __post_init__(self) -> None:
        if not 0 < self.validity_min <= self.validity_max:
            raise ValueError(f"validity {self.validity_min}..{self.validity_max} s is not a range")
        if self.skew < 0:
            raise ValueError(f"negative clock skew {self.skew}")

    @classmethod
    def from_policy(cls, policy: Policy, rollover_keys: Iterable[bytes] = ()) -> DpsRules:
        """The rules for ``policy``: for ``dps``, the DPS's own numbers. For another
        policy, ``rollover_keys`` (DNSKEY RDATAs the signing configuration names) of an
        algorithm other than the policy's are allowed as an algorithm rollover's."""
        offset = int(policy.signatures.inception_offset.total_seconds())
        if policy.name != DPS_POLICY:
            ksk, zsk = _rule("KSK", KSK_FLAGS, policy.ksk), _rule("ZSK", ZSK_FLAGS, policy.zsk)
            return cls(
                policy=policy.name,
                ksk=_with_rollover(ksk, rollover_keys),
                zsk=_with_rollover(zsk, rollover_keys),
                validity_min=int(policy.signatures.validity_min.total_seconds()),
                validity_max=int(policy.signatures.validity_max.total_seconds()),
                skew=offset,
                denial=policy.denial,
                ttl=policy.ttl,
            )
        t = DPS.ttl
        return cls(
            policy=policy.name,
            ksk=KeyRule("KSK", KSK_FLAGS, DPS.ksk.algorithm, DPS.ksk.bits),
            zsk=KeyRule("ZSK", ZSK_FLAGS, DPS.zsk.algorithm, DPS.zsk.bits),
            validity_min=int(DPS.signature_validity_min.total_seconds()),
            validity_max=int(DPS.signature_validity_max.total_seconds()),
            skew=offset,
            denial=DenialPolicy(
                nsec3_iterations=policy.denial.nsec3_iterations,
                nsec3_salt=policy.denial.nsec3_salt,
                opt_out=DPS.nsec3_opt_out,
            ),
            ttl=TtlPolicy(
                soa=t.soa, dnskey=t.dnskey, ns=t.ns, a=t.a, aaaa=t.aaaa, ds=t.ds, nsec3=t.nsec3
            ),
        )

    @property
    def algorithms(self) -> frozenset[int]:
        """The algorithms an RRSIG may use (DPS 6.3; both during an algorithm rollover)."""
        return self.ksk.algorithms | self.zsk.algorithms

    def cite(self, section: str) -> str:
        """Where a rule comes from: "DPS 6.1", or the deviating policy that sets it."""
        if self.policy == DPS_POLICY:
            return f"DPS {section}"
        return f"policy {self.policy!r} (DPS {section})"


def _rule(role: str, flags: int, key: KeyPolicy) -> KeyRule:
    return KeyRule(role, flags, int(key.algorithm), key.bits)


def _with_rollover(rule: KeyRule, rdatas: Iterable[bytes]) -> KeyRule:
    """``rule`` allowing the (algorithm, bits) of the keys of its role in ``rdatas`` whose
    algorithm is not the rule's: the other side of an algorithm rollover."""
    other = set()
    for rd in rdatas:
        key = parse_dnskey(rd)
        if key.flags == rule.flags and key.algorithm != rule.algorithm and key.bits:
            other.add((key.algorithm, key.bits))
    return replace(rule, rollover=tuple(sorted(other))) if other else rule


def span(seconds: int) -> str:
    """A duration as "7 d", "6 d 23 h", "2 h 30 min", "45 s"."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v} {u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "min")) if v]
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)
