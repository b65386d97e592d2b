"""The roster as a signed chain (``ceremony/roster.py``, DPS 4.2.1, 4.2.4): version 1 is
the trust root, each later version needs a quorum of the one before, and an edited
version, a version its own new people approved, or one key used for two people, is
refused with the rule it breaks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tldsec.ceremony.policy import DEFAULT_QUORUMS, FOUND, ROSTER_CHANGE, check_staffed
from tldsec.ceremony.quorum import Approval, Person, Role, Statement
from tldsec.ceremony.roster import (
    RosterVersion,
    SignedVersion,
    adoption_params,
    check_people,
    name_key,
    verify_chain,
)
from tldsec.errors import CeremonyRefused

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
KEYS = {n: Ed25519PrivateKey.generate() for n in ("ann", "amy", "bob", "ben", "cho", "cy", "eve")}
ROLES = {"ann": Role.SA, "amy": Role.SA, "bob": Role.SO, "ben": Role.SO, "cho": Role.WI,
         "cy": Role.WI, "eve": Role.SO}  # fmt: skip


def person(name: str, role: Role | None = None) -> Person:
    role = role or ROLES[name]
    return Person(name, role, KEYS[name].public_key().public_bytes_raw(), role is Role.WI)


FOUNDING = RosterVersion(
    1, "", NOW, "founded", tuple(person(n) for n in ("ann", "amy", "bob", "ben", "cho", "cy"))
)


def signed(
    roster: RosterVersion, *approvers: str, signers: dict[str, str] | None = None
) -> SignedVersion:
    operation = FOUND if roster.version == 1 else ROSTER_CHANGE
    statement = Statement(f"c-{roster.version}", operation, adoption_params(roster), NOW,
                          NOW + timedelta(hours=1))  # fmt: skip
    signers = signers or {}
    approvals = tuple(
        Approval(n, KEYS[signers.get(n, n)].sign(statement.to_bytes())) for n in approvers
    )
    return SignedVersion(roster, statement, approvals, f"{roster.version:04d}.json")


def following(previous: RosterVersion, *people: Person) -> RosterVersion:
    return RosterVersion(previous.version + 1, previous.digest(), NOW, "change", people)


def test_a_chain_from_the_founding_root_gives_the_newest_version() -> None:
    v2 = following(FOUNDING, *FOUNDING.people, person("eve"))
    chain = [signed(FOUNDING, "ann", "bob", "cho"), signed(v2, "amy", "ben", "cy")]
    assert verify_chain(chain, FOUNDING.digest(), DEFAULT_QUORUMS) == v2
    with pytest.raises(CeremonyRefused, match="is not the founding roster"):
        verify_chain(chain, "0" * 64, DEFAULT_QUORUMS)
    with pytest.raises(CeremonyRefused, match="no roster: the founding ceremony"):
        verify_chain([], FOUNDING.digest(), DEFAULT_QUORUMS)


def test_an_edited_version_or_one_approved_by_its_new_people_is_refused() -> None:
    # The attack of issue 15: mallory (SO) and ann2 (WI) carrying ann's key.
    mallory = Person("mallory", Role.SO, person("ann").public_key)
    ann2 = Person("ann2", Role.WI, person("ann").public_key, True)
    edited = replace(FOUNDING, people=(*FOUNDING.people, mallory, ann2))
    with pytest.raises(CeremonyRefused, match=r"mallory .SO. has the key of ann .SA.: one key"):
        verify_chain([signed(edited, "ann", "bob", "cho")], FOUNDING.digest(), DEFAULT_QUORUMS)
    eve_only = following(FOUNDING, *FOUNDING.people, person("eve"))
    founding = signed(FOUNDING, "ann", "bob", "cho")
    # eve approves her own enrolment with ann: not a quorum of version 1.
    with pytest.raises(CeremonyRefused, match="'eve' approved ceremony c-2 but is not on the"):
        verify_chain([founding, signed(eve_only, "ann", "eve", "cho")], FOUNDING.digest(),
                     DEFAULT_QUORUMS)  # fmt: skip
    # ann signs as bob and cho with her one key: the signatures do not verify.
    forged = signed(eve_only, "ann", "bob", "cho", signers={"bob": "ann", "cho": "ann"})
    with pytest.raises(CeremonyRefused, match="approval of bob on ceremony c-2 does not verify"):
        verify_chain([founding, forged], FOUNDING.digest(), DEFAULT_QUORUMS)
    # A version edited after its approval no longer matches what was approved.
    approved = signed(eve_only, "amy", "ben", "cy")
    ghost = Person("mallory", Role.SO, Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    tampered = replace(approved, roster=replace(eve_only, people=(*eve_only.people, ghost)))
    with pytest.raises(CeremonyRefused, match=r"version 2 .* not approved by a quorum of version"):
        verify_chain([founding, tampered], FOUNDING.digest(), DEFAULT_QUORUMS)
    # A version that skips or replaces its predecessor breaks the chain.
    stray = replace(eve_only, previous="f" * 64)
    with pytest.raises(CeremonyRefused, match="does not follow version 1"):
        verify_chain([founding, signed(stray, "amy", "ben", "cy")], FOUNDING.digest(),
                     DEFAULT_QUORUMS)  # fmt: skip


def test_the_rules_of_every_version() -> None:
    assert name_key("Ann") == name_key("a.n-n") == name_key("ANN ") == "ann"
    with pytest.raises(CeremonyRefused, match="'Ann' and 'ann' are one name"):
        check_people(
            [person("ann"), Person("Ann", Role.SO, KEYS["eve"].public_key().public_bytes_raw())],
            "r",
        )
    with pytest.raises(CeremonyRefused, match="witness cho is not flagged independent"):
        check_people([replace(person("cho"), independent=False)], "r")
    with pytest.raises(CeremonyRefused, match=r"has 1 SA; at least 2 .* \(DPS 4.2.1\)"):
        check_staffed([p for p in FOUNDING.people if p.name != "amy"], "roster version 1")
    check_staffed(FOUNDING.people, "roster version 1")
