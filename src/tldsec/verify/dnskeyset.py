"""Check "dnskey": the apex DNSKEY RRset holds only keys the DPS allows (DPS 6.1, 6.3).

Read from the zone alone: each key's flags (257 for a KSK, 256 for a ZSK, nothing else:
tldsec's key manager never sets REVOKE or other bits), protocol 3 (RFC 4034 2.1.2), the
algorithm and the key size of its role (the RSA modulus, or 256 for ECDSA P-256), and
at least one KSK and one ZSK. A key that signs nothing (a pre-published or standby key)
is held to the same rules: it will sign after a rollover.
"""

from __future__ import annotations

import time

from tldsec.dnscore import names
from tldsec.dnscore.zone import RRset
from tldsec.verify.dpsrules import DNSKEY_PROTOCOL, DpsRules, KeyRule
from tldsec.verify.keys import SEP_FLAG, DnsKey, parse_dnskey
from tldsec.verify.report import CheckResult, Finding

NAME = "dnskey"
ALGORITHM_NAMES = {8: "RSASHA256", 10: "RSASHA512", 13: "ECDSAP256SHA256"}


def check_dnskeys(origin: bytes, dnskey: RRset | None, rules: DpsRules) -> CheckResult:
    """Every DNSKEY of the apex against ``rules``; every problem is a finding."""
    t0 = time.perf_counter()
    findings = list(dnskey_findings(origin, dnskey, rules))
    return CheckResult.from_findings(NAME, findings, time.perf_counter() - t0)


def dnskey_findings(origin: bytes, dnskey: RRset | None, rules: DpsRules) -> list[Finding]:
    apex = names.to_text(origin)
    if dnskey is None or not dnskey.rdatas:
        return [Finding(apex, "DNSKEY", "the apex has no DNSKEY RRset")]
    out: list[Finding] = []
    roles = {rules.ksk.role: 0, rules.zsk.role: 0}
    for rd in dnskey.rdatas:
        key = parse_dnskey(rd)
        rule = rules.ksk if key.flags & SEP_FLAG else rules.zsk
        problems = _problems(key, rule, rules)
        if problems:
            out.extend(Finding(apex, "DNSKEY", p) for p in problems)
        else:
            roles[rule.role] += 1
    for rule in (rules.ksk, rules.zsk):
        if not roles[rule.role]:
            out.append(
                Finding(
                    apex,
                    "DNSKEY",
                    f"no valid {rule.role} (flags {rule.flags}, algorithm {rule.algorithm}, "
                    f"{rule.bits} bits); {rules.cite('6.1')} requires one",
                )
            )
    return out


def _problems(key: DnsKey, rule: KeyRule, rules: DpsRules) -> list[str]:
    what = f"{rule.role} {key.tag}"
    out: list[str] = []
    if len(key.rdata) < 4:
        return [f"DNSKEY RDATA of {len(key.rdata)} octets is malformed (RFC 4034 2.1)"]
    if key.flags != rule.flags:
        out.append(
            f"{what} has flags {key.flags}; a {rule.role} has {rule.flags} and no other bit "
            f"(no REVOKE, RFC 5011: rollovers follow {rules.cite('6.4')}; RFC 4034 2.1.1)"
        )
    if key.protocol != DNSKEY_PROTOCOL:
        out.append(
            f"{what} has protocol {key.protocol}; it must be 3 (RFC 4034 2.1.2, "
            f"{rules.cite('6.1')})"
        )
    if key.algorithm != rule.algorithm and key.algorithm in rule.algorithms:
        if not rule.allows(key.algorithm, key.bits):
            out.append(f"{what}: {key.problem or 'not the algorithm rollover key size'}")
    elif key.algorithm != rule.algorithm:
        out.append(
            f"{what} uses algorithm {key.algorithm}"
            f"{_alg_name(key.algorithm)}; {rules.cite('6.1')} requires {rule.algorithm}"
            f"{_alg_name(rule.algorithm)} for the {rule.role}"
        )
    elif key.bits and key.bits != rule.bits:
        out.append(
            f"{key.bits}-bit {what}; {rules.cite('6.1')} requires a {rule.bits}-bit {rule.role}"
        )
    elif not key.bits and key.protocol == DNSKEY_PROTOCOL:
        out.append(f"{what}: {key.problem or 'no usable public key'}")
    return out


def _alg_name(algorithm: int) -> str:
    name = ALGORITHM_NAMES.get(algorithm)
    return f" ({name})" if name else ""
