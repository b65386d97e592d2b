"""Who acts, when, and under which rules: the values every registry service takes.

One ``Tx`` per unit of work (one EPP command, one console action): it fixes ``now``
once (STYLE 3) and carries the server transaction id that history rows reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher

from tldsec.policy import DsPolicy
from tldsec.registry.audit import AuditRecorder, log_audit
from tldsec.registry.names import normalize
from tldsec.registry.reserved import ReservedNames, reserved_names

if TYPE_CHECKING:
    from tldsec.settings import Settings

REGISTRY_ACTOR = "registry"


@dataclass(frozen=True, slots=True)
class RegistryRules:
    """What the registry accepts: the TLD, the DS policy (DPS 3.3), the reserved names
    and data limits. The zone builder applies the same rules to every object it
    publishes (``registry/publishable.py``)."""

    origin: str
    ds: DsPolicy
    max_ns: int = 13
    max_period_years: int = 10
    max_check_names: int = 50
    # RFC 5731 3.2.4: a pending transfer is approved by the server after this time.
    transfer_pending: timedelta = timedelta(days=5)
    # None: the policy's default labels under the origin (rules_from_settings adds the
    # apex name servers' domains and the operator's names); read ``reserved``.
    reserved_names: ReservedNames | None = None
    # Whether glue may be in the documentation blocks (registry/addresses.py).
    documentation_glue: bool = True
    # The zone's id in the registry's ``zone`` table (decision 57), which new domains,
    # in-zone hosts and zone changes are written with; None: the database's default,
    # zone 1 (a registry of one zone, or none yet).
    zone_id: int | None = None
    reserved: ReservedNames = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not normalize(self.origin):
            raise ValueError("the registry needs a TLD origin")
        if self.max_ns < 1 or self.max_period_years < 1 or self.max_check_names < 1:
            raise ValueError("registry limits must be positive")
        reserved = self.reserved_names
        object.__setattr__(
            self, "reserved", reserved if reserved is not None else reserved_names(self.origin)
        )


def rules_from_settings(settings: Settings) -> RegistryRules:
    """The registry's rules for a home: its TLD, its policy's DS rules and reserved
    labels, the apex name servers' domains and ``[zone] reserved_names``."""
    from tldsec.errors import ConfigError, RegistryError

    try:
        reserved = reserved_names(
            settings.origin,
            labels=settings.policy.reserved_labels,
            names=settings.zone.reserved_names,
            apex_ns=settings.apex.ns if settings.apex is not None else (),
        )
    except RegistryError as exc:
        raise ConfigError(f"[zone] reserved_names: {exc}") from exc
    return RegistryRules(
        origin=settings.origin,
        ds=settings.policy.ds,
        reserved_names=reserved,
        documentation_glue=settings.zone.documentation_glue,
    )


def rules_by_zone(settings: Settings) -> dict[str, RegistryRules]:
    """Each zone's rules (``[zones.NAME]``, decision 59), by origin: its policy's DS
    rules and reserved labels, its apex name servers' domains and reserved names."""
    from tldsec.errors import ConfigError, RegistryError

    rules = {}
    for origin, zone in settings.zones.items():
        policy = settings.policies[zone.policy_name]
        try:
            reserved = reserved_names(
                origin,
                labels=policy.reserved_labels,
                names=zone.reserved_names,
                apex_ns=zone.apex.ns,
            )
        except RegistryError as exc:
            raise ConfigError(f"[zones.{zone.name}] reserved_names: {exc}") from exc
        rules[origin] = RegistryRules(
            origin=origin,
            ds=policy.ds,
            reserved_names=reserved,
            documentation_glue=zone.documentation_glue,
        )
    return rules


@dataclass(frozen=True, slots=True)
class Actor:
    """A registrar (``registrar_id`` set) or the registry operator (``None``)."""

    client_id: str
    registrar_id: int | None

    @classmethod
    def registry(cls) -> Actor:
        return cls(REGISTRY_ACTOR, None)

    @property
    def is_registry(self) -> bool:
        return self.registrar_id is None


@dataclass(frozen=True, slots=True)
class Tx:
    """One unit of work: actor, the one ``now``, transaction ids, rules and helpers."""

    actor: Actor
    now: datetime
    sv_trid: str
    rules: RegistryRules
    hasher: PasswordHasher
    cl_trid: str | None = None
    audit: AuditRecorder = field(default=log_audit)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("Tx.now must be timezone-aware")
