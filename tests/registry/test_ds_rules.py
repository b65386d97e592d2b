"""The DS rules (DPS 3.3): what a syntactically valid DS is, each violation named."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from tldsec.policy import DsPolicy, load_policy
from tldsec.registry.ds_rules import DsData, Rule, apply_ds_change, ds_violations

POLICY = load_policy().ds  # digest types 2, 4; algorithms 8, 10, 13, 14, 15, 16; max 8
VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "rfc5910"
SECDNS = "urn:ietf:params:xml:ns:secDNS-1.1"
SHA256 = "A" * 64


def ds(key_tag: int = 12345, alg: int = 13, dtype: int = 2, digest: str = SHA256) -> DsData:
    return DsData.of(key_tag, alg, dtype, digest)


def rules(found: list) -> list[Rule]:  # type: ignore[type-arg]
    return [v.rule for v in found]


def test_a_valid_sha256_ds_passes() -> None:
    assert ds_violations(ds(), POLICY) == []


def test_sha384_needs_48_bytes() -> None:
    assert ds_violations(ds(dtype=4, digest="b" * 96), POLICY) == []
    assert rules(ds_violations(ds(dtype=4, digest="b" * 64), POLICY)) == [Rule.DIGEST_LENGTH]


def test_a_31_byte_sha256_digest_is_refused_with_its_length() -> None:
    (v,) = ds_violations(ds(digest="AB" * 31), POLICY)
    assert v.rule is Rule.DIGEST_LENGTH
    assert "32 bytes (64 hex digits), not 31 bytes (62 hex digits)" in v.message


def test_an_odd_number_of_hex_digits_is_named() -> None:
    (v,) = ds_violations(ds(digest="A" * 63), POLICY)
    assert "an odd number" in v.message


def test_key_tag_outside_16_bits() -> None:
    assert rules(ds_violations(ds(key_tag=65536), POLICY)) == [Rule.KEY_TAG_RANGE]
    assert rules(ds_violations(ds(key_tag=-1), POLICY)) == [Rule.KEY_TAG_RANGE]
    assert ds_violations(ds(key_tag=0), POLICY) == ds_violations(ds(key_tag=65535), POLICY) == []


def test_unassigned_algorithm_differs_from_disallowed_algorithm() -> None:
    (unassigned,) = ds_violations(ds(alg=4), POLICY)
    (disallowed,) = ds_violations(ds(alg=5), POLICY)
    assert unassigned.rule is Rule.ALGORITHM_UNASSIGNED
    assert "not an assigned DNSSEC algorithm" in unassigned.message
    assert disallowed.rule is Rule.ALGORITHM_NOT_ALLOWED
    assert "allowed: 8, 10, 13, 14, 15, 16" in disallowed.message


def test_sha1_is_not_allowed_by_the_dps_policy() -> None:
    (v,) = ds_violations(ds(dtype=1, digest="A" * 40), POLICY)
    assert v.rule is Rule.DIGEST_TYPE_NOT_ALLOWED
    (v,) = ds_violations(ds(dtype=99, digest="A" * 40), POLICY)
    assert v.rule is Rule.DIGEST_TYPE_UNASSIGNED
    assert "not an assigned DS digest type" in v.message


def test_non_hex_digest() -> None:
    assert rules(ds_violations(ds(digest="G" * 64), POLICY)) == [Rule.DIGEST_NOT_HEX]
    assert rules(ds_violations(ds(digest=""), POLICY)) == [Rule.DIGEST_NOT_HEX]


def test_every_violation_of_one_ds_is_reported() -> None:
    found = ds_violations(ds(key_tag=70000, alg=200, dtype=1, digest="XYZ"), POLICY)
    assert set(rules(found)) == {
        Rule.KEY_TAG_RANGE,
        Rule.ALGORITHM_UNASSIGNED,
        Rule.DIGEST_TYPE_NOT_ALLOWED,
        Rule.DIGEST_NOT_HEX,
    }
    assert len({v.message for v in found}) == 4


def _vector_ds(name: str, section: str) -> list[DsData]:
    root = etree.parse(str(VECTORS / name)).getroot()
    out = []
    for d in root.iterfind(f"{{{SECDNS}}}{section}/{{{SECDNS}}}dsData"):
        out.append(
            DsData.of(
                int(d.findtext(f"{{{SECDNS}}}keyTag") or ""),
                int(d.findtext(f"{{{SECDNS}}}alg") or ""),
                int(d.findtext(f"{{{SECDNS}}}digestType") or ""),
                d.findtext(f"{{{SECDNS}}}digest") or "",
            )
        )
    return out


def test_rfc5910_example_digests_are_refused_for_their_length() -> None:
    """RFC 5910's examples carry 20 hex digits for SHA-1 (which has 40): refused even by
    a policy that allows SHA-1 and DSA, for the length alone."""
    lenient = DsPolicy(digest_types=frozenset({1, 2}), algorithms=frozenset({3}), max_per_domain=8)
    examples = _vector_ds("secdns-update-rem-add.xml", "add") + _vector_ds(
        "secdns-update-rem-all-add.xml", "add"
    )
    assert examples
    for example in examples:
        (v,) = ds_violations(example, lenient)
        assert v.rule is Rule.DIGEST_LENGTH
        assert "20 bytes (40 hex digits), not 10 bytes (20 hex digits)" in v.message


def test_removes_come_before_adds() -> None:
    """RFC 5910 3.2.5: a DS removed and added in one command stays."""
    a = ds()
    change = apply_ds_change([a], remove=[a], add=[a], policy=POLICY)
    assert change.ok and change.records == (a,)


def test_remove_all_then_add() -> None:
    old, new = ds(key_tag=1), ds(key_tag=2)
    change = apply_ds_change([old], remove_all=True, add=[new], policy=POLICY)
    assert change.records == (new,)


def test_removing_a_ds_the_domain_lacks_is_a_violation() -> None:
    change = apply_ds_change([], remove=[ds()], policy=POLICY)
    assert rules(list(change.violations)) == [Rule.NOT_PRESENT]


def test_duplicates_in_the_request_and_against_the_domain() -> None:
    a = ds()
    assert rules(list(apply_ds_change([], add=[a, a], policy=POLICY).violations)) == [
        Rule.DUPLICATE
    ]
    assert rules(list(apply_ds_change([a], add=[a], policy=POLICY).violations)) == [Rule.DUPLICATE]


def test_nine_ds_when_eight_are_allowed() -> None:
    nine = [ds(key_tag=i) for i in range(9)]
    change = apply_ds_change([], add=nine, policy=POLICY)
    assert rules(list(change.violations)) == [Rule.TOO_MANY]
    assert "would have 9 DS records" in change.violations[0].message
    assert "at most 8" in change.violations[0].message
    assert apply_ds_change([], add=nine[:8], policy=POLICY).ok


def test_digest_case_and_spaces_do_not_make_a_different_ds() -> None:
    assert DsData.of(1, 13, 2, "ab cd" + "0" * 60) == DsData.of(1, 13, 2, "ABCD" + "0" * 60)


# --- properties -------------------------------------------------------------------------

valid_ds = st.builds(
    DsData.of,
    st.integers(0, 65535),
    st.sampled_from(sorted(POLICY.algorithms)),
    st.just(2),
    st.binary(min_size=32, max_size=32).map(bytes.hex),
)
any_ds = st.builds(
    DsData.of,
    st.integers(-10, 70000),
    st.integers(0, 255),
    st.integers(0, 255),
    st.text(alphabet="0123456789abcdefABCDEFxyz ", max_size=100),
)


@given(valid_ds)
def test_any_well_formed_allowed_ds_is_accepted(d: DsData) -> None:
    assert ds_violations(d, POLICY) == []


@given(any_ds)
def test_a_ds_is_accepted_exactly_when_every_field_rule_holds(d: DsData) -> None:
    ok = (
        0 <= d.key_tag <= 65535
        and d.algorithm in POLICY.algorithms
        and d.digest_type in POLICY.digest_types
        and len(d.digest) == {2: 64, 4: 96}.get(d.digest_type, -1)
        and all(c in "0123456789ABCDEF" for c in d.digest)
    )
    assert (ds_violations(d, POLICY) == []) == ok


@given(
    st.lists(valid_ds, max_size=8, unique=True),
    st.lists(valid_ds, max_size=10),
    st.booleans(),
)
def test_an_accepted_change_never_exceeds_the_maximum_and_holds_only_valid_ds(
    current: list[DsData], add: list[DsData], remove_all: bool
) -> None:
    change = apply_ds_change(current, add=add, remove_all=remove_all, policy=POLICY)
    if change.ok:
        assert len(change.records) <= POLICY.max_per_domain
        assert set(add) <= set(change.records)
        assert all(ds_violations(d, POLICY) == [] for d in change.records)
    assert list(change.records) == sorted(set(change.records))


@given(st.lists(valid_ds, min_size=1, max_size=8, unique=True))
def test_removing_everything_empties_the_set(current: list[DsData]) -> None:
    assert apply_ds_change(current, remove=current, policy=POLICY).records == ()
    assert apply_ds_change(current, remove_all=True, policy=POLICY).records == ()
