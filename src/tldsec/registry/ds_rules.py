"""The DS syntax and policy rules, shared by EPP and the registrar console (pure, no DB).

DPS 3.3: the registry accepts any *syntactically valid* DS record and never checks it
against the child's DNSKEY, so registrants can pre-publish DS for keys kept off-line.
"Syntactically valid" is made precise here: RFC 4034 5.1 field ranges, an algorithm
and a digest type that the IANA registries assign, a digest of exactly the length its
digest type produces, and what the policy (``[ds]`` in the DPS policy file) allows.
Every broken rule is reported with its own message, so a registrar learns everything
wrong with a request at once. Two classes, one EPP result code each
(``epp/errors.py``): a number the IANA registry does not assign (unassigned or
reserved) is out of range (2004); an assigned number the policy does not allow is a
policy refusal (2306).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from tldsec.policy import DsPolicy

_HEX = frozenset(string.hexdigits)

# The IANA "Domain Name System Security (DNSSEC) Algorithm Numbers" registry: every
# assigned number and its mnemonic (RFC 4034 A.1, RFC 8624, RFC 9558, RFC 9563).
# Numbers absent here are unassigned or reserved (4, 9, 11, 18-22, 24-251, 255).
DNSSEC_ALGORITHMS: dict[int, str] = {
    0: "DELETE",
    1: "RSAMD5",
    2: "DH",
    3: "DSA",
    5: "RSASHA1",
    6: "DSA-NSEC3-SHA1",
    7: "RSASHA1-NSEC3-SHA1",
    8: "RSASHA256",
    10: "RSASHA512",
    12: "ECC-GOST",
    13: "ECDSAP256SHA256",
    14: "ECDSAP384SHA384",
    15: "ED25519",
    16: "ED448",
    17: "SM2SM3",
    23: "ECC-GOST12",
    252: "INDIRECT",
    253: "PRIVATEDNS",
    254: "PRIVATEOID",
}


@dataclass(frozen=True, slots=True)
class DigestAlgorithm:
    """One entry of the IANA "DS RR Type Digest Algorithms" registry."""

    name: str
    length: int  # bytes of digest it produces


# RFC 4034 5.1.3, RFC 4509, RFC 5933, RFC 6605, RFC 9558, RFC 9563. 0 is reserved.
DS_DIGEST_TYPES: dict[int, DigestAlgorithm] = {
    1: DigestAlgorithm("SHA-1", 20),
    2: DigestAlgorithm("SHA-256", 32),
    3: DigestAlgorithm("GOST R 34.11-94", 32),
    4: DigestAlgorithm("SHA-384", 48),
    5: DigestAlgorithm("GOST R 34.11-2012", 32),
    6: DigestAlgorithm("SM3", 32),
}


@dataclass(frozen=True, slots=True, order=True)
class DsData:
    """One DS record's RDATA fields (RFC 4034 5.1), the digest as upper-case hex.

    Unchecked on purpose: it carries what a registrar sent until ``ds_violations``
    has judged it. Two DS are the same record when all four fields are equal.
    """

    key_tag: int
    algorithm: int
    digest_type: int
    digest: str

    @classmethod
    def of(cls, key_tag: int, algorithm: int, digest_type: int, digest: str) -> DsData:
        """A DS with its digest normalised: surrounding space removed, upper case."""
        return cls(key_tag, algorithm, digest_type, "".join(digest.split()).upper())

    def presentation(self) -> str:
        """The RDATA in zone-file presentation form (RFC 4034 5.3)."""
        return f"{self.key_tag} {self.algorithm} {self.digest_type} {self.digest}"

    def __str__(self) -> str:
        return self.presentation()


class Rule(StrEnum):
    """The DS rules; each violation names one."""

    KEY_TAG_RANGE = "key-tag-range"
    ALGORITHM_UNASSIGNED = "algorithm-unassigned"
    ALGORITHM_NOT_ALLOWED = "algorithm-not-allowed"
    DIGEST_TYPE_UNASSIGNED = "digest-type-unassigned"
    DIGEST_TYPE_NOT_ALLOWED = "digest-type-not-allowed"
    DIGEST_NOT_HEX = "digest-not-hex"
    DIGEST_LENGTH = "digest-length"
    DUPLICATE = "duplicate"
    NOT_PRESENT = "not-present"
    TOO_MANY = "too-many"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken DS rule, with the record it concerns and a message for the registrar."""

    rule: Rule
    message: str
    ds: DsData | None = None

    def __str__(self) -> str:
        return self.message


def ds_violations(ds: DsData, policy: DsPolicy) -> list[Violation]:
    """Every rule a single DS breaks on its own (empty when it is acceptable)."""
    found: list[Violation] = []

    def bad(rule: Rule, message: str) -> None:
        found.append(Violation(rule, f"DS {ds}: {message}", ds))

    # RFC 4034 5.1.1: the key tag is a 16-bit field.
    if not 0 <= ds.key_tag <= 0xFFFF:
        bad(Rule.KEY_TAG_RANGE, f"key tag {ds.key_tag} is outside 0..65535")
    # RFC 4034 5.1.2 and the IANA DNSSEC algorithm registry.
    mnemonic = DNSSEC_ALGORITHMS.get(ds.algorithm)
    if mnemonic is None:
        bad(
            Rule.ALGORITHM_UNASSIGNED,
            f"algorithm {ds.algorithm} is not an assigned DNSSEC algorithm number "
            "(IANA DNSSEC Algorithm Numbers registry)",
        )
    elif ds.algorithm not in policy.algorithms:
        bad(
            Rule.ALGORITHM_NOT_ALLOWED,
            f"algorithm {ds.algorithm} ({mnemonic}) is assigned but not allowed by the "
            f"registry policy (allowed: {_listed(policy.algorithms)})",
        )
    # RFC 4034 5.1.3 and the IANA DS digest type registry: the type fixes the length.
    digest = DS_DIGEST_TYPES.get(ds.digest_type)
    if digest is None:
        bad(
            Rule.DIGEST_TYPE_UNASSIGNED,
            f"digest type {ds.digest_type} is not an assigned DS digest type "
            "(IANA DS RR Type Digest Algorithms registry)",
        )
    elif ds.digest_type not in policy.digest_types:
        bad(
            Rule.DIGEST_TYPE_NOT_ALLOWED,
            f"digest type {ds.digest_type} ({digest.name}) is assigned but not allowed by "
            f"the registry policy (allowed: {_listed(policy.digest_types)})",
        )
    if not ds.digest or not _HEX.issuperset(ds.digest):
        bad(Rule.DIGEST_NOT_HEX, "the digest is not a non-empty hexadecimal string")
    elif digest is not None and len(ds.digest) != 2 * digest.length:
        if len(ds.digest) % 2:
            got = f"{len(ds.digest)} hex digits (an odd number)"
        else:
            got = f"{len(ds.digest) // 2} bytes ({len(ds.digest)} hex digits)"
        bad(
            Rule.DIGEST_LENGTH,
            f"a digest of type {ds.digest_type} ({digest.name}) is "
            f"{digest.length} bytes ({2 * digest.length} hex digits), not {got}",
        )
    return found


@dataclass(frozen=True, slots=True)
class DsChange:
    """The result of applying a DS change: the new set, or why it is refused."""

    records: tuple[DsData, ...]
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations


def apply_ds_change(
    current: Iterable[DsData],
    *,
    remove: Sequence[DsData] = (),
    remove_all: bool = False,
    add: Sequence[DsData] = (),
    policy: DsPolicy,
) -> DsChange:
    """The DS set after removing and then adding (RFC 5910 3.2.5: removes come first).

    ``current`` is what the domain has now (trusted: it passed these rules before).
    Violations: any added DS that breaks a rule, a DS added twice or already present,
    a removed DS the domain does not have, and a result above the per-domain maximum.
    The returned records are sorted, so equal sets compare equal.
    """
    records = set(current)
    violations: list[Violation] = []
    if remove_all:
        records.clear()
    for ds in remove:
        if ds in records:
            records.discard(ds)
        else:
            violations.append(
                Violation(Rule.NOT_PRESENT, f"DS {ds}: the domain has no such DS to remove", ds)
            )
    seen: set[DsData] = set()
    for ds in add:
        own = ds_violations(ds, policy)
        violations.extend(own)
        if ds in seen:
            violations.append(Violation(Rule.DUPLICATE, f"DS {ds}: the same DS is given twice", ds))
        elif ds in records:
            violations.append(
                Violation(Rule.DUPLICATE, f"DS {ds}: the domain already has this DS", ds)
            )
        seen.add(ds)
        if not own:
            records.add(ds)
    if len(records | seen) > policy.max_per_domain:
        violations.append(
            Violation(
                Rule.TOO_MANY,
                f"the domain would have {len(records | seen)} DS records; the registry "
                f"policy allows at most {policy.max_per_domain} per domain",
            )
        )
    return DsChange(tuple(sorted(records)), tuple(violations))


def _listed(values: Iterable[int]) -> str:
    return ", ".join(str(v) for v in sorted(values))
