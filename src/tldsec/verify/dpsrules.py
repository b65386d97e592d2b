"""The DPS numbers a signed zone must show (DPS 6.1-6.7), as the gate checks them.

They come from the policy the verifier is given, never from the key store or the
signing configuration. For the policy named ``dps`` the numbers the DPS states itself
(algorithm, key sizes, signature validity, TTLs, no opt-out) are taken from
``tldsec.dpsnumbers``, whatever the policy file says; the rest (NSEC3 iterations and
salt, RFC 9276, and the inception offset that allows for resolvers' clock skew) are the
policy's. A policy with another name may deviate, and its own values are the rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from tldsec.dpsnumbers import DPS
from tldsec.policy import DenialPolicy, KeyPolicy, Policy, TtlPolicy

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
    def from_policy(cls, policy: Policy) -> DpsRules:
        """The rules for ``policy``: for ``dps``, the DPS's own numbers."""
        offset = int(policy.signatures.inception_offset.total_seconds())
        if policy.name != DPS_POLICY:
            return cls(
                policy=policy.name,
                ksk=_rule("KSK", KSK_FLAGS, policy.ksk),
                zsk=_rule("ZSK", ZSK_FLAGS, policy.zsk),
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
        """The algorithms an RRSIG may use (DPS 6.3)."""
        return frozenset({self.ksk.algorithm, self.zsk.algorithm})

    def cite(self, section: str) -> str:
        """Where a rule comes from: "DPS 6.1", or the deviating policy that sets it."""
        if self.policy == DPS_POLICY:
            return f"DPS {section}"
        return f"policy {self.policy!r} (DPS {section})"


def _rule(role: str, flags: int, key: KeyPolicy) -> KeyRule:
    return KeyRule(role, flags, int(key.algorithm), key.bits)


def span(seconds: int) -> str:
    """A duration as "7 d", "6 d 23 h", "2 h 30 min", "45 s"."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v} {u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "min")) if v]
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)
