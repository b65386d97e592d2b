"""The ``[keys]`` table of ``tldsec.toml``: parent name servers and timing overrides.

    [keys]
    parent_servers = ["198.41.0.4", "[2001:503:ba3e::2:30]:53"]  # asked by check-parent
    propagation_delay_seconds = 3600         # Dprp: zone change -> all our name servers
    parent_propagation_delay_seconds = 43200 # DprpP: DS seen -> all parent name servers
    parent_ds_ttl_seconds = 86400            # TTLds at the parent
    safety_margin_seconds = 3600

Every field is optional; the defaults are those of ``keys/timing.py``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from tldsec.errors import ConfigError
from tldsec.keys import timing as t
from tldsec.keys.gates import ParentServer
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy

_DURATIONS = (
    "propagation_delay_seconds",
    "parent_propagation_delay_seconds",
    "parent_ds_ttl_seconds",
    "safety_margin_seconds",
)


@dataclass(frozen=True, slots=True)
class KeySettings:
    """What the key manager reads from the home beyond the policy."""

    parent_servers: tuple[ParentServer, ...] = ()
    propagation_delay: timedelta = t.DEFAULT_PROPAGATION_DELAY
    parent_propagation_delay: timedelta = t.DEFAULT_PARENT_PROPAGATION_DELAY
    parent_ds_ttl: timedelta | None = None
    safety_margin: timedelta = t.DEFAULT_SAFETY_MARGIN

    def timing(self, policy: Policy) -> TimingParams:
        return TimingParams.from_policy(
            policy,
            propagation_delay=self.propagation_delay,
            parent_propagation_delay=self.parent_propagation_delay,
            parent_ds_ttl=self.parent_ds_ttl,
            safety_margin=self.safety_margin,
        )


def key_settings_from_dict(data: dict[str, Any], source: str = "[keys]") -> KeySettings:
    """Check and convert a parsed ``[keys]`` table."""
    unknown = set(data) - {"parent_servers", *_DURATIONS}
    if unknown:
        raise ConfigError(f"{source}: unknown field {sorted(unknown)[0]!r} in [keys]")
    servers_raw = data.get("parent_servers", [])
    if not isinstance(servers_raw, list) or not all(isinstance(s, str) for s in servers_raw):
        raise ConfigError(f"{source}: [keys] parent_servers must be a list of strings")
    try:
        servers = tuple(ParentServer.parse(s) for s in servers_raw)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    durations: dict[str, timedelta] = {}
    for name in _DURATIONS:
        if name in data:
            value = data[name]
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 2**31:
                raise ConfigError(f"{source}: [keys] {name} must be a number of seconds")
            durations[name.removesuffix("_seconds")] = timedelta(seconds=value)
    defaults = KeySettings()
    return KeySettings(
        parent_servers=servers,
        propagation_delay=durations.get("propagation_delay", defaults.propagation_delay),
        parent_propagation_delay=durations.get(
            "parent_propagation_delay", defaults.parent_propagation_delay
        ),
        parent_ds_ttl=durations.get("parent_ds_ttl"),
        safety_margin=durations.get("safety_margin", defaults.safety_margin),
    )


def load_key_settings(config_file: Path) -> KeySettings:
    """The ``[keys]`` table of a ``tldsec.toml`` (defaults when it has none)."""
    try:
        data = tomllib.loads(config_file.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{config_file}: {exc}") from exc
    table = data.get("keys", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{config_file}: [keys] must be a table")
    return key_settings_from_dict(table, str(config_file))
