"""The [keys] table of tldsec.toml."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tldsec.errors import ConfigError
from tldsec.keys.config import KeySettings, key_settings_from_dict, load_key_settings
from tldsec.keys.gates import ParentServer
from tldsec.policy import Policy
from tldsec.settings import load_settings


def test_defaults_when_there_is_no_keys_table(tmp_path: Path, policy: Policy) -> None:
    conf = tmp_path / "tldsec.toml"
    conf.write_text('[zone]\norigin = "example."\n')
    settings = load_key_settings(load_settings(tmp_path))
    assert settings == KeySettings()
    assert settings.timing(policy).parent_propagation_delay == timedelta(hours=12)


def test_servers_and_overrides(policy: Policy) -> None:
    s = key_settings_from_dict(
        {
            "parent_servers": ["192.0.2.1", "[2001:db8::1]:5353"],
            "parent_propagation_delay_seconds": 3600,
            "parent_ds_ttl_seconds": 172800,
        }
    )
    assert s.parent_servers == (ParentServer("192.0.2.1"), ParentServer("2001:db8::1", 5353))
    t = s.timing(policy)
    assert (t.parent_propagation_delay, t.parent_ds_ttl) == (timedelta(hours=1), timedelta(days=2))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"parent_server": []}, "unknown key 'parent_server'.*did you mean 'parent_servers'"),
        ({"parent_servers": "192.0.2.1"}, "must be an array of strings"),
        ({"parent_servers": ["192.0.2.1:dns"]}, "ADDRESS:PORT"),
        ({"safety_margin_seconds": -1}, "must be at least 0"),
        ({"safety_margin_seconds": True}, "must be an integer"),
    ],
)
def test_mistakes_are_named(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        key_settings_from_dict(table)
