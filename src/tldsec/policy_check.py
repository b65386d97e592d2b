"""Checking a policy against the DPS's numbers and against itself.

``dps_findings`` lists every value that breaks a number of the DPS (``dpsnumbers``);
``inconsistencies`` lists every pair of values that cannot both hold (a signature that
expires before the next cycle, an NSEC3 TTL the SOA TTL caps, ...). ``load_policy``
refuses a policy with any inconsistency, and a policy named ``dps`` with any DPS finding;
a policy named otherwise may deviate from the DPS, and ``tldsec status`` and ``tldsec
policy check`` say where. Pure: values in, findings out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from tldsec.dpsnumbers import DPS, KeyNumbers

OFFICER_ACTIVATION = "security-officer"  # policy.SECURITY_OFFICER (policy imports us)

if TYPE_CHECKING:  # policy.py calls this module while it loads a policy
    from tldsec.policy import KeyPolicy, Policy

DPS_POLICY_NAME = "dps"  # a policy with this name claims the DPS: it may not deviate


@dataclass(frozen=True, slots=True)
class Finding:
    """One value that breaks a rule: the field as the policy file spells it, its value,
    what the rule wants, and where the rule comes from."""

    field: str
    value: str
    wanted: str
    source: str  # "DPS 6.1", "RFC 9077 3", ...
    breaks_dps: bool  # True: a DPS number; False: the policy contradicts itself

    def __str__(self) -> str:
        return f"{self.field} = {self.value}: {self.wanted} ({self.source})"


def check(policy: Policy) -> list[Finding]:
    """Every inconsistency, then every deviation from the DPS."""
    return inconsistencies(policy) + dps_findings(policy)


def refusals(policy: Policy) -> list[Finding]:
    """The findings that make ``load_policy`` refuse the policy: every inconsistency,
    and every DPS deviation when the policy is named ``dps``."""
    if policy.name == DPS_POLICY_NAME:
        return check(policy)
    return inconsistencies(policy)


def _days(value: timedelta) -> str:
    days = value / timedelta(days=1)
    return str(int(days)) if days == int(days) else f"{days:g}"


def _seconds(value: timedelta) -> str:
    return str(int(value.total_seconds()))


def _key_findings(role: KeyPolicy, dps: KeyNumbers) -> list[Finding]:
    name = role.role
    found: list[Finding] = []
    if int(role.algorithm) != dps.algorithm:
        found.append(
            Finding(
                f"{name}.algorithm",
                str(int(role.algorithm)),
                f"the DPS signs with algorithm {dps.algorithm} (RSASHA256)",
                "DPS 6.1, 6.3",
                True,
            )
        )
    if role.bits != dps.bits:
        found.append(
            Finding(f"{name}.bits", str(role.bits), f"the DPS says {dps.bits}", "DPS 6.1", True)
        )
    if role.lifetime > dps.lifetime:
        found.append(
            Finding(
                f"{name}.lifetime_days",
                _days(role.lifetime),
                f"the DPS rolls the {dps.role} at least every {_days(dps.lifetime)} days",
                "DPS 6.4",
                True,
            )
        )
    # DPS 6.4: the pre- and post-publication periods and the emergency post-publication
    # are the least a key is published before and after its use (keys/timing.py).
    for field, value, least in (
        ("prepublish_days", role.prepublish, dps.prepublish),
        ("postpublish_days", role.postpublish, dps.postpublish),
        ("emergency_postpublish_days", role.emergency_postpublish, dps.emergency_postpublish),
    ):
        if value < least:
            found.append(
                Finding(
                    f"{name}.{field}",
                    _days(value),
                    f"the DPS says {_days(least)} days for the {dps.role}",
                    "DPS 6.4",
                    True,
                )
            )
    return found


def dps_findings(policy: Policy) -> list[Finding]:
    """Every value of ``policy`` that breaks a number of the DPS."""
    found = _key_findings(policy.ksk, DPS.ksk) + _key_findings(policy.zsk, DPS.zsk)
    if policy.denial.opt_out != DPS.nsec3_opt_out:
        found.append(
            Finding("denial.opt_out", "true", "the DPS uses NSEC3 without opt-out", "DPS 6.2", True)
        )
    sig = policy.signatures
    low, high = DPS.signature_validity_min, DPS.signature_validity_max
    for field, value in (
        ("validity_min_days", sig.validity_min),
        ("validity_max_days", sig.validity_max),
    ):
        if not low <= value <= high:
            found.append(
                Finding(
                    f"signatures.{field}",
                    _days(value),
                    f"the DPS signs for between {_days(low)} and {_days(high)} days",
                    "DPS 6.5",
                    True,
                )
            )
    if sig.validity_max <= sig.validity_min:
        found.append(
            Finding(
                "signatures.validity_max_days",
                _days(sig.validity_max),
                f"the DPS jitters signature lifetimes: above validity_min_days "
                f"({_days(sig.validity_min)})",
                "DPS 6.5",
                True,
            )
        )
    for rdtype, dps_ttl in DPS.ttl.by_type().items():
        ttl = getattr(policy.ttl, rdtype.lower())
        if ttl != dps_ttl:
            found.append(
                Finding(
                    f"ttl.{rdtype.lower()}", str(ttl), f"the DPS says {dps_ttl}", "DPS 6.7", True
                )
            )
    cycle = policy.cycle
    if cycle.interval + cycle.debounce > DPS.ds_removal_within:
        found.append(
            Finding(
                "cycle.interval_seconds",
                f"{_seconds(cycle.interval)} (+ debounce_seconds {_seconds(cycle.debounce)})",
                f"a DS change must reach the zone within {_seconds(DPS.ds_removal_within)} s",
                "DPS 3.5.2",
                True,
            )
        )
    audit = policy.audit
    if audit.online_retention < DPS.audit_online_retention:
        found.append(
            Finding(
                "audit.online_retention_days",
                _days(audit.online_retention),
                f"the DPS keeps logs online for {_days(DPS.audit_online_retention)} days",
                "DPS 4.4.3",
                True,
            )
        )
    if audit.archive_retention < DPS.audit_archive_retention:
        found.append(
            Finding(
                "audit.archive_retention_days",
                _days(audit.archive_retention),
                f"the DPS archives logs for at least {_days(DPS.audit_archive_retention)} days",
                "DPS 4.4.3",
                True,
            )
        )
    if policy.activation != OFFICER_ACTIVATION:
        found.append(
            Finding(
                "keystore.activation",
                f'"{policy.activation}"',
                f'"{OFFICER_ACTIVATION}": Security Officers hold the HSM activation '
                "credentials, Systems Administrators none; the home stores no PIN",
                "DPS 4.2.4, 5.2.8, 5.4",
                True,
            )
        )
    if not policy.backup_before_use:
        # DPS 5.2.4 (Private Key Backup): the key archive is encrypted with the SMK; a
        # key that signs before such an archive holds it has no backup to recover from.
        found.append(
            Finding(
                "keystore.backup_before_use",
                "false",
                "true: a key is published or signs only once a checked archive under "
                "the Storage Master Key holds it",
                "DPS 5.2.4",
                True,
            )
        )
    return found


def inconsistencies(policy: Policy) -> list[Finding]:
    """Every pair of values of ``policy`` that cannot both hold."""
    found: list[Finding] = []
    for role in (policy.ksk, policy.zsk):
        if role.prepublish >= role.lifetime:
            found.append(
                Finding(
                    f"{role.role}.prepublish_days",
                    _days(role.prepublish),
                    f"must be shorter than the key's lifetime ({_days(role.lifetime)} days)",
                    "RFC 7583 3.2",
                    False,
                )
            )
        # RFC 7583 3.2: a new key is used only once its DNSKEY RRset has expired from caches.
        if role.prepublish < timedelta(seconds=policy.ttl.dnskey):
            found.append(
                Finding(
                    f"{role.role}.prepublish_days",
                    _days(role.prepublish),
                    f"must be at least the DNSKEY TTL ({policy.ttl.dnskey} s)",
                    "RFC 7583 3.2",
                    False,
                )
            )
    sig, cycle = policy.signatures, policy.cycle
    if sig.validity_max < sig.validity_min:
        found.append(
            Finding(
                "signatures.validity_max_days",
                _days(sig.validity_max),
                f"is below validity_min_days ({_days(sig.validity_min)}): the jitter "
                "would be negative",
                "DPS 6.5",
                False,
            )
        )
    if sig.refresh >= sig.validity_min:
        found.append(
            Finding(
                "signatures.refresh_days",
                _days(sig.refresh),
                f"leaves no reuse: it must be below validity_min_days ({_days(sig.validity_min)})",
                "DPS 6.5",
                False,
            )
        )
    reach = cycle.interval + cycle.safety_margin
    if sig.refresh <= reach:
        found.append(
            Finding(
                "signatures.refresh_days",
                _days(sig.refresh),
                "signatures would expire before the next cycle plus the safety margin "
                f"(cycle.interval_seconds {_seconds(cycle.interval)} + safety_margin_hours "
                f"{cycle.safety_margin / timedelta(hours=1):g})"
                "; raise refresh_days or lower the margin",
                "DPS 3.5.2, 6.5",
                False,
            )
        )
    if sig.validity_min <= reach:
        found.append(
            Finding(
                "signatures.validity_min_days",
                _days(sig.validity_min),
                "a signature made now would expire before the next cycle plus the safety margin",
                "DPS 3.5.2, 6.5",
                False,
            )
        )
    # RFC 9077 3: the NSEC3 TTL is min(SOA TTL, SOA MINIMUM); the builder writes the
    # policy's NSEC3 TTL as the SOA MINIMUM, so a lower SOA TTL would cap every NSEC3 TTL
    # below the policy's and the gate would refuse every zone.
    if policy.ttl.soa < policy.ttl.nsec3:
        found.append(
            Finding(
                "ttl.soa",
                str(policy.ttl.soa),
                f"must be at least ttl.nsec3 ({policy.ttl.nsec3}, the SOA MINIMUM): "
                "NSEC3 RRs take the smaller of the two",
                "RFC 9077 3",
                False,
            )
        )
    if policy.audit.archive_retention < policy.audit.online_retention:
        found.append(
            Finding(
                "audit.archive_retention_days",
                _days(policy.audit.archive_retention),
                f"is shorter than online_retention_days ({_days(policy.audit.online_retention)}):"
                " entries would leave the archive before the database",
                "DPS 4.4.3",
                False,
            )
        )
    return found
