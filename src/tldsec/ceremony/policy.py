"""Which operations need which quorum, and who may not serve twice in a row: pure.

DPS 4.2.2 lists the number of persons per task; each gated operation belongs to one of
its classes (``OPERATIONS``), and each class has a ``Quorum`` (``DEFAULT_QUORUMS``,
changed in ``[ceremony.quorum]`` only upwards in people). DPS 4.3.4 rotates the SA and SO
roles "so that a single individual does not perform the same role twice in a row":
``check_rotation`` compares a ceremony's people with the previous ceremony of the class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from tldsec.ceremony.quorum import Person, Quorum, Role
from tldsec.errors import CeremonyRefused


class OperationClass(StrEnum):
    """The tasks of DPS 4.2.2, and roster changes."""

    HSM_ACTIVATION = "hsm-activation"  # HSM activation and deactivation
    KEY_GENERATION = "key-generation"  # KSK, ZSK and SMK generation (DPS 5.1.1)
    ARCHIVE_DISTRIBUTION = "archive-distribution"  # encrypted key archives, SMK shares
    SIGNING_COMPONENTS = "signing-components"  # the signer, its policy, DS overrides
    ROSTER = "roster"  # who holds a trusted role (DPS 4.2.1)


FOUND = "ceremony.found"  # the founding ceremony: roster v1, first keys, the SMK
ROSTER_CHANGE = "ceremony.roster"  # a later roster version
SIGNER_CONFIG = "signer.config"  # the signer's configuration and policy (ceremony/config.py)
# What else the founding approves: the SMK made in it, its holders and threshold.
FOUNDING_SMK_PARAMS = frozenset({"smk_holders", "smk_threshold"})

# Every operation a ceremony can authorise, and its class.
OPERATIONS: Mapping[str, OperationClass] = {
    "hsm.activate": OperationClass.HSM_ACTIVATION,
    "hsm.deactivate": OperationClass.HSM_ACTIVATION,
    FOUND: OperationClass.KEY_GENERATION,
    "keys.generate": OperationClass.KEY_GENERATION,
    "keys.rollover": OperationClass.KEY_GENERATION,  # scheduled or emergency, KSK or ZSK
    "keys.algorithm-rollover": OperationClass.KEY_GENERATION,  # a new KSK and ZSK (RFC 6781)
    "backup.smk-create": OperationClass.KEY_GENERATION,
    "backup.keys": OperationClass.ARCHIVE_DISTRIBUTION,
    "backup.restore": OperationClass.ARCHIVE_DISTRIBUTION,
    "backup.smk-install": OperationClass.ARCHIVE_DISTRIBUTION,  # the shares handed over
    "keys.ds-seen": OperationClass.SIGNING_COMPONENTS,  # the operator overrides the check
    "keys.go-insecure": OperationClass.SIGNING_COMPONENTS,  # every DS withdrawn (DPS 4.6)
    # Another operator's DNSKEYs enter our DNSKEY RRset, and the zone is handed to it
    # (DPS 4.6, keys/transfer.py): what the signer publishes, as a signer change is.
    "keys.transfer": OperationClass.SIGNING_COMPONENTS,
    "sign": OperationClass.SIGNING_COMPONENTS,  # a zone signed by hand
    "cycle.accept-change": OperationClass.SIGNING_COMPONENTS,  # a held zone change published
    SIGNER_CONFIG: OperationClass.SIGNING_COMPONENTS,  # tldsec.toml and the policy file
    ROSTER_CHANGE: OperationClass.ROSTER,
}
# Always under a ceremony, whatever [ceremony] required says: the roster has no other
# authority than its approvals.
ALWAYS = frozenset({FOUND, ROSTER_CHANGE})
# What [ceremony] required may name ("all" is every one of them).
CONFIGURABLE = tuple(op for op in OPERATIONS if op not in ALWAYS)

# DPS 4.2.2, and 5.2.2's threshold of three for key generation and roster changes.
DEFAULT_QUORUMS: Mapping[OperationClass, Quorum] = {
    OperationClass.HSM_ACTIVATION: Quorum.of("sa", "so", "wi"),
    OperationClass.KEY_GENERATION: Quorum.of("sa", "so", "wi"),
    OperationClass.ARCHIVE_DISTRIBUTION: Quorum.of("sa|so", "wi"),
    OperationClass.SIGNING_COMPONENTS: Quorum.of("sa", "so|wi"),
    OperationClass.ROSTER: Quorum.of("sa", "so", "wi"),
}

ROTATED = (Role.SA, Role.SO)  # DPS 4.3.4 rotates these two
MIN_PER_ROLE = 2  # DPS 4.2.1: "at least two different individuals assigned to each"


def operation_class(operation: str) -> OperationClass:
    try:
        return OPERATIONS[operation]
    except KeyError:
        raise CeremonyRefused(
            f"unknown ceremony operation {operation!r} (one of {', '.join(OPERATIONS)})"
        ) from None


@dataclass(frozen=True, slots=True)
class PreviousCeremony:
    """The last ceremony of a class that ran: its id and who served in which role."""

    ceremony_id: str
    people: Mapping[str, Role]  # name -> role


def check_rotation(
    ceremony_id: str,
    cls: OperationClass,
    people: Sequence[Person],
    previous: PreviousCeremony | None,
) -> None:
    """Refuse a person who serves in the same SA or SO role as in the previous ceremony of
    the same class (DPS 4.3.4), naming that ceremony."""
    if previous is None:
        return
    for person in people:
        if person.role in ROTATED and previous.people.get(person.name) is person.role:
            raise CeremonyRefused(
                f"{person.name} was {person.role.name} in the previous {cls} ceremony "
                f"{previous.ceremony_id} and may not serve as {person.role.name} twice in a "
                f"row (DPS 4.3.4): another {person.role.name} approves ceremony {ceremony_id}"
            )


def check_staffed(people: Sequence[Person], where: str) -> None:
    """Refuse a roster with fewer than two people in a trusted role (DPS 4.2.1)."""
    for role in (Role.SA, Role.SO, Role.WI):
        have = sum(1 for p in people if p.role is role)
        if have < MIN_PER_ROLE:
            raise CeremonyRefused(
                f"{where} has {have} {role.name}; at least {MIN_PER_ROLE} different people "
                f"hold each trusted role before a gated operation runs (DPS 4.2.1): enrol "
                f"another {role.name} by a roster change"
            )
