"""A sensitive operation runs only on approvals that fill its quorum (DPS 4.2.2): one
distinct person per slot, each signature verified, for exactly the operation and
parameters approved, within the approval's window; auditors never count (DPS 4.2.4)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tldsec.ceremony.quorum import Approval, Person, Quorum, Role, Statement, authorise
from tldsec.errors import CeremonyRefused

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
KEYS = {name: Ed25519PrivateKey.generate() for name in ("ann", "bob", "cho", "dan", "aud")}
ROLES = {"ann": Role.SA, "bob": Role.SO, "cho": Role.WI, "dan": Role.SO, "aud": Role.AUDITOR}
THREE = Quorum.of("sa", "so", "wi")
ROSTER = {
    name: Person(name, ROLES[name], key.public_key().public_bytes_raw())
    for name, key in KEYS.items()
}
STATEMENT = Statement(
    "c-1", "keys.rollover", {"role": "ksk"}, NOW - timedelta(minutes=5), NOW + timedelta(hours=1)
)


def approve(*names: str, statement: Statement = STATEMENT) -> list[Approval]:
    return [Approval(n, KEYS[n].sign(statement.to_bytes())) for n in names]


def run(approvals: list[Approval], **overrides: object) -> list[Person]:
    args: dict[str, object] = {
        "operation": "keys.rollover",
        "params": {"role": "ksk"},
        "now": NOW,
        "quorum": THREE,
    }
    args.update(overrides)
    return authorise(STATEMENT, approvals, ROSTER, **args)  # type: ignore[arg-type]


def test_one_person_per_role_authorises() -> None:
    assert [p.name for p in run(approve("ann", "bob", "cho"))] == ["ann", "bob", "cho"]


@pytest.mark.parametrize(
    ("names", "reason"),
    [
        (
            ("ann", "bob"),
            re.escape("needs SA + SO + WI (DPS 4.2.2), approved by ann (SA), bob (SO)"),
        ),
        (("bob", "dan", "cho"), "lacks its quorum"),
        (("ann", "bob", "bob"), "bob approved ceremony c-1 twice"),
        (("ann", "bob", "aud"), r"aud is designated audit personnel .* \(DPS 4.2.4\)"),
    ],
)
def test_missing_roles_and_repeated_people_are_refused(names: tuple[str, ...], reason: str) -> None:
    with pytest.raises(CeremonyRefused, match=reason):
        run(approve(*names))


def test_a_signature_over_anything_else_is_refused() -> None:
    other = Statement("c-1", "keys.rollover", {"role": "zsk"}, STATEMENT.created, STATEMENT.expires)
    forged = [*approve("ann", "bob"), *approve("cho", statement=other)]
    with pytest.raises(CeremonyRefused, match="approval of cho on ceremony c-1 does not verify"):
        run(forged)
    stranger = Approval("eve", Ed25519PrivateKey.generate().sign(STATEMENT.to_bytes()))
    with pytest.raises(
        CeremonyRefused, match="'eve' approved ceremony c-1 but is not on the verified roster"
    ):
        run([*approve("ann", "bob"), stranger])


def test_only_the_operation_and_parameters_approved_within_the_window() -> None:
    approvals = approve("ann", "bob", "cho")
    with pytest.raises(
        CeremonyRefused, match=re.escape("approved 'keys.rollover', not 'backup.restore'")
    ):
        run(approvals, operation="backup.restore")
    with pytest.raises(
        CeremonyRefused, match=re.escape("with {'role': 'ksk'}, not {'role': 'zsk'}")
    ):
        run(approvals, params={"role": "zsk"})
    with pytest.raises(CeremonyRefused, match="is valid from"):
        run(approvals, now=STATEMENT.expires)
    with pytest.raises(CeremonyRefused, match="is valid from"):
        run(approvals, now=STATEMENT.created - timedelta(seconds=1))


def test_the_quorum_table_slots_of_dps_4_2_2() -> None:
    archives, signing = Quorum.of("sa|so", "wi"), Quorum.of("sa", "so|wi")
    assert (archives.describe(), signing.describe()) == ("(SA or SO) + WI", "SA + (SO or WI)")
    assert len(run(approve("bob", "cho"), quorum=archives)) == 2
    assert len(run(approve("ann", "cho"), quorum=archives)) == 2
    with pytest.raises(CeremonyRefused, match=re.escape("needs (SA or SO) + WI")):
        run(approve("ann", "bob"), quorum=archives)
    assert len(run(approve("ann", "bob"), quorum=signing)) == 2
    with pytest.raises(CeremonyRefused, match=re.escape("needs SA + (SO or WI)")):
        run(approve("bob", "cho"), quorum=signing)
    # More approvals than slots are fine; a person fills one slot only.
    assert len(run(approve("ann", "bob", "cho", "dan"), quorum=THREE)) == 4
    with pytest.raises(ValueError, match="at least two people"):
        Quorum.of("sa")
    with pytest.raises(ValueError, match="one or more of sa, so, wi"):
        Quorum.of("sa", "auditor")
