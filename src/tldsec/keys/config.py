"""The ``[keys]`` table of ``tldsec.toml``: parent name servers and timing overrides.

    [keys]
    parent_servers = ["198.41.0.4", "[2001:503:ba3e::2:30]:53"]  # asked by check-parent
    parent_trust_anchor = "/usr/share/dns/root.key"  # validates their answers (DPS 2.2)
    parent_check_seconds = 3600              # serve asks them while a DS gate waits
    propagation_delay_seconds = 3600         # Dprp: zone change -> all our name servers
    parent_propagation_delay_seconds = 43200 # DprpP: DS seen -> all parent name servers
    parent_ds_ttl_seconds = 86400            # TTLds at the parent
    safety_margin_seconds = 3600

Every field is optional; the defaults are those of ``keys/timing.py``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from tldsec.errors import ConfigError
from tldsec.keys import timing as t
from tldsec.keys.gates import ParentServer
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy
from tldsec.settings import Settings
from tldsec.settings.strict import read_table
from tldsec.settings.tables import KeysTable


@dataclass(frozen=True, slots=True)
class KeySettings:
    """What the key manager reads from the home beyond the policy."""

    parent_servers: tuple[ParentServer, ...] = ()
    parent_trust_anchor: Path = Path("/usr/share/dns/root.key")
    parent_check_seconds: int = 3600
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


def key_settings_from_table(table: KeysTable) -> KeySettings:
    """Convert a checked ``[keys]`` table (``settings.tables.KeysTable``)."""
    try:
        servers = tuple(ParentServer.parse(s) for s in table.parent_servers)
    except ValueError as exc:
        raise ConfigError(f"[keys] parent_servers: {exc}") from exc

    def seconds(value: int | None, default: timedelta) -> timedelta:
        return default if value is None else timedelta(seconds=value)

    defaults = KeySettings()
    ds_ttl = table.parent_ds_ttl_seconds
    return KeySettings(
        parent_servers=servers,
        parent_trust_anchor=Path(table.parent_trust_anchor),
        parent_check_seconds=table.parent_check_seconds,
        propagation_delay=seconds(table.propagation_delay_seconds, defaults.propagation_delay),
        parent_propagation_delay=seconds(
            table.parent_propagation_delay_seconds, defaults.parent_propagation_delay
        ),
        parent_ds_ttl=None if ds_ttl is None else timedelta(seconds=ds_ttl),
        safety_margin=seconds(table.safety_margin_seconds, defaults.safety_margin),
    )


def key_settings_from_dict(data: dict[str, Any], source: str = "[keys]") -> KeySettings:
    """Check and convert a parsed ``[keys]`` table."""
    return key_settings_from_table(read_table(KeysTable, data, table="keys", source=source))


def load_key_settings(settings: Settings) -> KeySettings:
    """The ``[keys]`` table of the settings (defaults when the file has none); a relative
    trust anchor path is relative to the home."""
    conf = key_settings_from_table(settings.config.keys)
    return dataclasses.replace(conf, parent_trust_anchor=settings.home / conf.parent_trust_anchor)
