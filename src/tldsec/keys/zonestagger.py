"""The staggered KSK rolls of a home's zones, wired from its settings (decisions 62, 68).

An entry point that builds one zone's ``KeyManager`` (the cycle, ``tldsec keys``) gives
it ``stagger_for(settings, engine, clock)``: at each plan and each ``run_due`` the
manager's scheduled KSK roll is then moved (delayed, or advanced where the DPS maximum
lifetime leaves no room to delay) away from every other zone's DS changes, read from
the one signer database. The zones come from ``tldsec.toml``'s tables, so settings
narrowed to one zone (decision 64) still name them all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from tldsec.clock import Clock
from tldsec.keys.config import load_key_settings
from tldsec.keys.planner import Constraint
from tldsec.keys.service import ZonePlanning, stagger_hook
from tldsec.settings import Settings
from tldsec.settings.zones import DEFAULT_POLICY


def zone_plannings(settings: Settings) -> list[ZonePlanning]:
    """Every zone of the home in the file's order: its origin, policy, timing and
    ``ksk_stagger_days`` (a ``[zone]`` home: its one zone)."""
    conf = load_key_settings(settings)
    tables = settings.config
    if tables.zone is not None or not tables.zones:
        named = [(z.origin, z.policy_name, z.ksk_stagger_days) for z in settings.zones.values()]
    else:
        named = [
            (name.lower() + ".", table.policy or DEFAULT_POLICY, table.ksk_stagger_days)
            for name, table in tables.zones.items()
        ]
    out = []
    for origin, policy_name, days in named:
        policy = settings.policies[policy_name]
        out.append(ZonePlanning(origin, policy, conf.timing(policy), days))
    return out


def stagger_for(
    settings: Settings, engine: Engine, clock: Clock
) -> Callable[[datetime], Constraint | None] | None:
    """The ``stagger`` hook of the KeyManager of the settings' zone (``settings``
    narrowed to it); None in a home of one zone."""
    return stagger_hook(engine, zone_plannings(settings), settings.origin, clock)
