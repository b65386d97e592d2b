"""The ``[verify]`` table of tldsec.toml and the options it gives the verifier."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tldsec.errors import ConfigError
from tldsec.policy import load_policy
from tldsec.settings import VerifySettings, settings_from_dict
from tldsec.verify.options import EXTERNAL_DEFAULT, VerifyOptions


def _settings(verify: dict[str, Any] | None) -> VerifySettings:
    data: dict[str, Any] = {"zone": {"origin": "example"}}
    if verify is not None:
        data["verify"] = verify
    return settings_from_dict(data, Path("/nonexistent"), source="t.toml").verify


def test_defaults_run_the_three_validators_and_sample_2000() -> None:
    vs = _settings(None)
    assert vs.external == EXTERNAL_DEFAULT == ("ldns-verify-zone", "dnssec-verify", "kzonecheck")
    options = VerifyOptions.from_settings(load_policy(), vs)
    assert options.second_sample == 2000 and options.workers == 0
    assert options.incremental and options.full_every_hours == 24.0
    assert options.full_every_cycles == 96
    # DPS policy: cycle interval 15 min + safety margin 48 h.
    assert options.horizon_delta() == timedelta(hours=48, minutes=15)


def test_every_setting_of_the_table() -> None:
    vs = _settings(
        {
            "external": ["kzonecheck", "validns"],
            "external_timeout_seconds": 60,
            "second_sample": "all",
            "horizon_hours": 72,
            "workers": 4,
            "incremental": False,
            "full_every_hours": 6,
            "full_every_cycles": 0,
        }
    )
    options = VerifyOptions.from_settings(load_policy(), vs)
    assert options.external == ("kzonecheck", "validns")
    assert options.external_timeout == 60.0
    assert options.second_sample is None
    assert options.horizon_delta() == timedelta(hours=72)
    assert options.workers == 4
    assert not options.incremental
    assert (options.full_every_hours, options.full_every_cycles) == (6.0, 0)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"extrenal": []}, "unknown key 'extrenal' in \\[verify\\].*did you mean 'external'"),
        ({"external": "ldns-verify-zone"}, "external in t.toml must be an array of strings"),
        ({"second_sample": -1}, "second_sample in t.toml must be at least 0"),
        ({"second_sample": "most"}, "second_sample in t.toml must be one of 'all'"),
        ({"horizon_hours": 0}, "horizon_hours in t.toml must be at least 1"),
        ({"incremental": "yes"}, "incremental in t.toml must be true or false"),
        ({"full_every_hours": 0}, "full_every_hours in t.toml must be at least 1"),
        ({"full_every_cycles": -1}, "full_every_cycles in t.toml must be at least 0"),
    ],
)
def test_a_bad_table_is_refused_by_name(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings(table)
