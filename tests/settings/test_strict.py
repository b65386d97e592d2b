"""The strict table reader: a dataclass is the schema of its table."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tldsec.errors import ConfigError
from tldsec.settings.strict import nearest, read_table, setting


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    weight: int = setting(1, low=1, high=3)


@dataclass(frozen=True, slots=True)
class Example:
    required: int
    flag: bool = False
    ratio: float = setting(0.01, above=0, high=1)
    mode: str = setting("a", choices=("a", "b"))
    count_or_all: int | str = setting(5, low=0, choices=("all",))
    maybe: int | None = None
    names: tuple[str, ...] = ()
    members: tuple[Member, ...] = ()
    by_name: dict[str, Member] = field(default_factory=dict)


def read(raw: dict[str, object]) -> Example:
    return read_table(Example, raw, table="t", source="f.toml")


def test_values_defaults_and_nested_tables_are_read() -> None:
    value = read(
        {
            "required": 1,
            "ratio": 1,
            "count_or_all": "all",
            "members": [{"name": "x"}, {"name": "y", "weight": 3}],
            "by_name": {"z": {"name": "z"}},
        }
    )
    assert value.ratio == 1.0 and isinstance(value.ratio, float)
    assert value.count_or_all == "all" and value.maybe is None and value.mode == "a"
    assert value.members == (Member("x"), Member("y", 3)) and value.by_name == {"z": Member("z")}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "[t] required is missing in f.toml"),
        ({"required": 1, "flga": 1}, "unknown key 'flga' in [t] of f.toml; did you mean 'flag'?"),
        ({"required": 1, "flag": "true"}, "[t] flag in f.toml must be true or false"),
        ({"required": 1, "ratio": 0}, "[t] ratio in f.toml must be above 0, not 0.0"),
        ({"required": 1, "ratio": 2}, "[t] ratio in f.toml must be at most 1, not 2.0"),
        ({"required": 1, "mode": "c"}, "[t] mode in f.toml must be one of 'a', 'b', not 'c'"),
        ({"required": 1, "count_or_all": -1}, "[t] count_or_all in f.toml must be at least 0"),
        ({"required": 1, "count_or_all": 1.5}, "must be an integer or a string, not 1.5"),
        ({"required": 1, "maybe": "x"}, "[t] maybe in f.toml must be an integer, not 'x'"),
        ({"required": 1, "names": [1]}, "[t] names[0] in f.toml must be a string, not 1"),
        ({"required": 1, "members": [{"nme": "x"}]}, "unknown key 'nme' in [t.members[0]]"),
        ({"required": 1, "members": [{}]}, "[t.members[0]] name is missing in f.toml"),
        ({"required": 1, "by_name": {"z": {"name": "z", "weight": 4}}},
         "[t.by_name.z] weight in f.toml must be at most 3, not 4"),
    ],
)  # fmt: skip
def test_each_mistake_is_named(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        read(raw)
    assert message in str(info.value)


def test_nearest_offers_only_a_close_name() -> None:
    assert (
        nearest("registy_url", ["registry_url", "signer_url"]) == "; did you mean 'registry_url'?"
    )
    assert nearest("qqq", ["registry_url"]) == ""
