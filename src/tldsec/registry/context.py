"""Who acts, when, and under which rules: the values every registry service takes.

One ``Tx`` per unit of work (one EPP command, one console action): it fixes ``now``
once (STYLE 3) and carries the server transaction id that history rows reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher

from tldsec.policy import DsPolicy
from tldsec.registry.audit import AuditRecorder, log_audit
from tldsec.registry.names import normalize

REGISTRY_ACTOR = "registry"


@dataclass(frozen=True, slots=True)
class RegistryRules:
    """What the registry accepts: the TLD, the DS policy (DPS 3.3) and data limits."""

    origin: str
    ds: DsPolicy
    max_ns: int = 13
    max_period_years: int = 10
    max_check_names: int = 50
    # RFC 5731 3.2.4: a pending transfer is approved by the server after this time.
    transfer_pending: timedelta = timedelta(days=5)

    def __post_init__(self) -> None:
        if not normalize(self.origin):
            raise ValueError("the registry needs a TLD origin")
        if self.max_ns < 1 or self.max_period_years < 1 or self.max_check_names < 1:
            raise ValueError("registry limits must be positive")


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
