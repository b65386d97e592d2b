"""The name's zone (decision 57, registry/zones.py): the longest origin the name is
strictly below, by whole labels, in any case; none for a name outside every zone or an
origin itself."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tldsec.errors import ConfigError
from tldsec.registry.zones import ZoneIndex

INDEX = ZoneIndex.of(["example", "Shop.", "co.test"])


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        ("nic.example", "example."),
        ("NIC.Example.", "example."),
        ("ns1.nic.example", "example."),
        ("buy.shop", "shop."),
        ("a.co.test", "co.test."),
        ("co.test", None),  # an origin is no registrar's object
        ("example", None),
        ("b.test", None),  # below test., which is not a zone here
        ("a.notexample", None),  # label by label, not character by character
        ("example.org", None),
        ("", None),
    ],
)
def test_a_name_is_in_the_zone_it_is_below(name: str, zone: str | None) -> None:
    assert INDEX.zone_of(name) == zone


def test_the_longest_origin_wins() -> None:
    nested = ZoneIndex.of(["example", "co.example"])
    assert nested.zone_of("a.co.example") == "co.example."
    assert nested.zone_of("co.example") == "example."
    assert nested.zone_of("b.example") == "example."


@given(st.lists(st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True), min_size=1, max_size=4))
def test_a_name_built_below_an_origin_is_found_in_it(labels: list[str]) -> None:
    name = ".".join(labels)
    assert INDEX.zone_of(f"{name}.shop") == "shop."
    assert INDEX.zone_of(f"{name}.nope") is None


def test_origins_are_listed_once_and_absolute() -> None:
    assert INDEX.described() == "example., shop., co.test."
    with pytest.raises(ConfigError, match="listed twice"):
        ZoneIndex.of(["example", "EXAMPLE."])
    with pytest.raises(ConfigError, match="lower-case absolute"):
        ZoneIndex(("Example.",))
    with pytest.raises(ConfigError, match="lower-case absolute"):
        ZoneIndex.of(["."])
